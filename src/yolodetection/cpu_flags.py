"""Flags of the CPU backends (OpenVINO, ONNX Runtime), and what the service says it chose.

Kept apart from the service's parser so the parser only calls `add_cpu_backend_flags`.
The chosen backend and precision are logged once (with the reason and the converted model's
id) and exported as `liquidedge_backend_info{engine,backend,precision,fallback}` (value 1): a
box that runs the fallback says so in both places. (`liquidedge_model_info{engine,version}` is
the model version a hot-reloading slot serves.)
"""

from __future__ import annotations

import argparse
import logging

from liquidedge.config import EnvDefaultsParser
from liquidedge.metrics import ServiceMetrics
from yolodetection.backends.factory import GraphOptions, Selected
from yolodetection.backends.onnx_model import converted_dir
from yolodetection.precision import PRECISIONS

log = logging.getLogger(__name__)

PERFORMANCE_HINTS = ("adaptive", "throughput", "latency")  # openvino_backend's, importable without openvino


def add_cpu_backend_flags(parser: EnvDefaultsParser) -> None:
    parser.env_flag(
        "--precision",
        "YOLO_PRECISION",
        default="auto",
        choices=list(PRECISIONS),
        help="openvino: auto (BF16 where the CPU has it, else INT8 when `make int8` made an accepted "
        "version, else FP32), or one of int8, bf16, fp32",
    )
    parser.env_flag(
        "--onnx",
        "YOLO_ONNX",
        default="",
        help="openvino/onnxruntime: a YOLO ONNX file (Darknet rows, YOLOv5 or YOLOv8 layout) or a model "
        "version directory, instead of the Darknet files",
    )
    parser.env_flag(
        "--converted-dir",
        "YOLO_CONVERTED_DIR",
        default="",
        help="where converted (ONNX) and quantised versions are cached; default <model-dir>/converted",
    )
    parser.env_flag(
        "--openvino-hint",
        "YOLO_OPENVINO_HINT",
        default="adaptive",
        choices=list(PERFORMANCE_HINTS),
        help="openvino PERFORMANCE_HINT: adaptive (a lone frame on all cores, overlapping frames a core "
        "each), throughput (a core per frame) or latency (all cores per frame)",
    )
    parser.env_flag(
        "--threads",
        "YOLO_THREADS",
        default=0,
        type=int,
        help="openvino/onnxruntime inference threads; 0 = every core",
    )


def graph_options(args: argparse.Namespace) -> GraphOptions:
    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0, got {args.threads}")
    return GraphOptions(
        precision=args.precision,
        converted_dir=converted_dir(args.model_dir, args.converted_dir),
        onnx=args.onnx,
        performance_hint=args.openvino_hint,
        threads=args.threads,
    )


def report_selection(selected: Selected, metrics: ServiceMetrics | None, engine: str = "yolo") -> None:
    """One log line (WARNING on a fallback) and the `liquidedge_backend_info` gauge."""
    backend = selected.backend
    level = logging.WARNING if selected.fell_back else logging.INFO
    log.log(
        level,
        "YOLO backend %s at %s: %s",
        backend.name,
        selected.precision.upper(),
        selected.reason,
        extra={
            "backend": backend.name,
            "precision": selected.precision,
            "fallback": selected.fell_back,
            "converted": selected.version,
        },
    )
    if metrics is None:
        return
    metrics.backend_info.clear()  # one backend runs at a time: a reload replaces the label set
    metrics.backend_info.labels(
        metrics.service, engine, backend.name, selected.precision, str(selected.fell_back).lower()
    ).set(1)
