"""YOLO detection service: config → backend → engine → server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from liquidedge.config import EnvDefaultsParser, add_common_flags, check_common, parse_bool
from liquidedge.legacy import robot_pb2_grpc
from liquidedge.logs import configure_logging
from liquidedge.server import ServiceBinding
from liquidedge.service import ServiceHandle, start_detector
from yolodetection.backends.opencv_dnn import OpenCVBackend
from yolodetection.engine import YoloEngine, YoloSettings
from yolodetection.model_files import DEFAULT_MODEL, ModelFiles
from yolodetection.servicer import LegacyYoloServicer

DEFAULT_PORT = 50055
DEFAULT_METRICS_PORT = 9155


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="yolodetection", description="Darknet YOLO object detection over gRPC")
    add_common_flags(parser, port=DEFAULT_PORT, metrics_port=DEFAULT_METRICS_PORT, max_in_flight=16)
    parser.env_flag(
        "--model-dir", "LIQUIDEDGE_MODEL_DIR", default="models", help="directory `make models` fills"
    )
    parser.env_flag(
        "--model", "YOLO_MODEL", default=DEFAULT_MODEL, help="model name: <dir>/<model>.cfg and .weights"
    )
    parser.env_flag("--cfg", "YOLO_CFG", default="", help="Darknet .cfg path (overrides --model-dir/--model)")
    parser.env_flag("--weights", "YOLO_WEIGHTS", default="", help="Darknet .weights path (overrides)")
    parser.env_flag("--names", "YOLO_NAMES", default="", help="class names file, one per line (overrides)")
    parser.env_flag(
        "--backend", "YOLO_BACKEND", default="opencv", choices=["opencv"], help="inference backend"
    )
    parser.env_flag(
        "--prefer-cuda",
        "YOLO_PREFER_CUDA",
        default=True,
        type=parse_bool,
        help="use CUDA when the backend has it",
    )
    parser.env_flag(
        "--score-threshold", "YOLO_SCORE_THRESHOLD", default=0.25, type=float, help="min class score"
    )
    parser.env_flag(
        "--nms-threshold", "YOLO_NMS_THRESHOLD", default=0.45, type=float, help="NMS IoU threshold"
    )
    parser.env_flag("--instances", "YOLO_INSTANCES", default=1, type=int, help="networks run in parallel")
    return parser


def model_files(args: argparse.Namespace) -> ModelFiles:
    files = ModelFiles.in_dir(args.model_dir, args.model)
    return ModelFiles(
        cfg=Path(args.cfg) if args.cfg else files.cfg,
        weights=Path(args.weights) if args.weights else files.weights,
        names=Path(args.names) if args.names else files.names,
    )


def load_engine(args: argparse.Namespace) -> YoloEngine:
    files = model_files(args)
    files.check()
    backend = OpenCVBackend(files, prefer_cuda=args.prefer_cuda, instances=args.instances)
    settings = YoloSettings(score_threshold=args.score_threshold, nms_threshold=args.nms_threshold)
    engine = YoloEngine(backend, files.class_names(), files.input_size(), settings)
    engine.warm_up()
    return engine


def start(args: argparse.Namespace) -> ServiceHandle:
    return start_detector(
        "yolodetection",
        "yolo",
        lambda detector: ServiceBinding(
            LegacyYoloServicer(detector), robot_pb2_grpc.add_YoloDetectionServicer_to_server, "YoloDetection"
        ),
        args,
        lambda: load_engine(args),
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_common(parser, args)
    try:
        YoloSettings(score_threshold=args.score_threshold, nms_threshold=args.nms_threshold)
        model_files(args).check()
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    configure_logging("yolodetection", args.log_level, args.log_format)
    start(args).serve_until_signalled(args.shutdown_grace_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
