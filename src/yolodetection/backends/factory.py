"""Choose a backend by name, importing torch, OpenVINO or ONNX Runtime only when chosen.

`auto` (the default) takes the fastest backend that passes the cross-backend agreement tests
and is installed here: OpenVINO on the CPU (BF16, INT8 or FP32 by what the CPU supports), the
PyTorch backend when the device is CUDA, and OpenCV DNN as the fallback. Every choice comes
with a sentence saying why, logged once and exported as a metric label, so a box that runs
the fallback says so.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from yolodetection.backends import Backend
from yolodetection.backends.onnx_model import (
    GraphModel,
    converted_dir,
    darknet_fp32,
    darknet_int8,
    user_model,
)
from yolodetection.model_files import ModelFiles
from yolodetection.model_version import ManifestError

log = logging.getLogger(__name__)

BACKEND_NAMES = ("auto", "opencv", "torch", "onnxruntime", "openvino")
DEVICE_NAMES = ("auto", "cpu", "cuda")


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def cuda_available() -> bool:
    """True when torch is installed and sees a GPU; never imports torch's CUDA if absent."""
    if not torch_available():
        return False
    import torch

    return torch.cuda.is_available()


def module_available(name: str) -> bool:
    """Importable, without importing it (a module hidden as None in sys.modules counts as absent)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _default_capabilities() -> Collection[str]:
    from yolodetection.precision import openvino_cpu_capabilities

    return openvino_cpu_capabilities()


@dataclass(frozen=True)
class GraphOptions:
    """What the ONNX-reading backends (OpenVINO, ONNX Runtime) need beyond the Darknet files.

    `onnx` is a user's ONNX file or model version directory (empty: convert the Darknet
    files, cached in `converted_dir`). `capabilities` probes the CPU (tests inject one).
    """

    precision: str = "auto"
    converted_dir: Path | None = None
    onnx: str = ""
    performance_hint: str = "adaptive"
    threads: int = 0
    capabilities: Callable[[], Collection[str]] = field(default=_default_capabilities, compare=False)


@dataclass(frozen=True)
class Selected:
    """A loaded backend, and why it is the one (`fell_back`: not what was asked or preferred)."""

    backend: Backend
    reason: str
    fell_back: bool = False
    # What a backend without a version of its own (OpenCV, torch: the Darknet files) runs.
    source: str = ""

    @property
    def precision(self) -> str:
        return str(getattr(self.backend, "precision", "fp32"))

    @property
    def version(self) -> str:
        return str(getattr(self.backend, "version", "") or self.source)


def select_backend(
    name: str,
    files: ModelFiles,
    *,
    device: str = "auto",
    instances: int = 1,
    allow_random_weights: bool = False,
    graph: GraphOptions = GraphOptions(),
) -> Selected:
    """Load backend `name` (or, for auto, the fastest available) for `files`."""
    if device not in DEVICE_NAMES:
        raise ValueError(f"device must be one of {DEVICE_NAMES}, got {device!r}")
    if name not in BACKEND_NAMES:
        raise ValueError(f"backend must be one of {BACKEND_NAMES}, got {name!r}")
    selected = _select(name, files, device, instances, allow_random_weights, graph)
    return Selected(selected.backend, selected.reason, selected.fell_back, files.weights.stem)


def _select(
    name: str, files: ModelFiles, device: str, instances: int, allow_random_weights: bool, graph: GraphOptions
) -> Selected:
    if name == "auto":
        return _auto(files, device=device, instances=instances, graph=graph)
    if name in {"openvino", "onnxruntime"} and device == "cuda":
        raise ValueError(f"the {name} backend runs on the CPU; use --device cpu or auto")
    if name == "opencv":
        return Selected(_opencv(files, device, instances), "OpenCV DNN as requested")
    if name == "torch":
        return Selected(_torch(files, device, allow_random_weights), "PyTorch as requested")
    if name == "onnxruntime":
        if not module_available("onnxruntime"):
            raise RuntimeError("the onnxruntime backend needs ONNX Runtime: pip install 'liquidedge[cpu]'")
        return Selected(_onnxruntime(files, graph), "ONNX Runtime as requested")
    if not module_available("openvino"):
        raise RuntimeError("the openvino backend needs OpenVINO: pip install 'liquidedge[cpu]'")
    return _openvino(files, graph, requested=True)


def _auto(files: ModelFiles, *, device: str, instances: int, graph: GraphOptions) -> Selected:
    if device == "cuda":
        return Selected(_torch(files, device, False), "PyTorch: the CUDA device was asked for")
    if not module_available("openvino"):
        why = "OpenVINO is not installed"
        if graph.onnx:
            if not module_available("onnxruntime"):
                raise RuntimeError("--onnx needs OpenVINO or ONNX Runtime, and neither is installed")
            return Selected(_onnxruntime(files, graph), f"ONNX Runtime: {why}", True)
        return Selected(_opencv(files, device, instances), f"OpenCV DNN (fallback): {why}", True)
    try:
        return _openvino(files, graph, requested=False)
    except (RuntimeError, ManifestError) as error:  # no usable converted model, no torch to convert
        if graph.onnx:
            raise
        log.warning("OpenVINO unusable here: %s", error)
        return Selected(_opencv(files, device, instances), f"OpenCV DNN (fallback): {error}", True)


def _opencv(files: ModelFiles, device: str, instances: int) -> Backend:
    from yolodetection.backends.opencv_dnn import OpenCVBackend

    backend = OpenCVBackend(files, prefer_cuda=device != "cpu", instances=instances)
    if device == "cuda" and backend.device != "cuda":
        raise RuntimeError("YOLO device cuda requested, but this OpenCV has no CUDA (use the torch backend)")
    return backend


def _torch(files: ModelFiles, device: str, allow_random_weights: bool) -> Backend:
    if not torch_available():
        raise RuntimeError("the torch backend needs PyTorch: pip install 'liquidedge[torch]'")
    from yolodetection.backends.torch_backend import TorchBackend, TorchOptions

    return TorchBackend.from_files(
        files, TorchOptions(device=device), allow_random_weights=allow_random_weights
    )


def _graph_fp32(files: ModelFiles, graph: GraphOptions) -> GraphModel:
    if graph.onnx:
        return user_model(graph.onnx)
    return darknet_fp32(files, graph.converted_dir or converted_dir(files.weights.parent))


def _onnxruntime(files: ModelFiles, graph: GraphOptions) -> Backend:
    from yolodetection.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(_graph_fp32(files, graph), threads=graph.threads, classes=_classes(files))


def _classes(files: ModelFiles) -> int | None:
    return len(files.class_names()) if files.names.is_file() else None


def _openvino(files: ModelFiles, graph: GraphOptions, *, requested: bool) -> Selected:
    from yolodetection.backends.openvino_backend import OpenVINOBackend, OpenVINOOptions
    from yolodetection.precision import choose_precision

    capabilities = graph.capabilities()
    int8 = None
    if not graph.onnx and graph.precision in {"auto", "int8"}:
        int8 = darknet_int8(files, graph.converted_dir or converted_dir(files.weights.parent))
    choice = choose_precision(graph.precision, capabilities, int8_available=int8 is not None)
    model = int8 if choice.precision == "int8" else _graph_fp32(files, graph)
    options = OpenVINOOptions(
        precision=choice.precision,
        performance_hint=graph.performance_hint,
        threads=graph.threads,
        cpu_has_bf16="BF16" in {c.upper() for c in capabilities},
    )
    backend = OpenVINOBackend(model, options, classes=_classes(files))
    prefix = "OpenVINO as requested" if requested else "OpenVINO, the fastest backend installed"
    return Selected(backend, f"{prefix}; precision {choice.reason}", choice.fell_back)
