"""The face detection service as importable parts: flags, settings, start-up checks, `start`.

`__main__` wires these to the command line; tests, the benchmarks and the demo build the same
engine and service from the same flags, so what they run is what production runs.
"""

from __future__ import annotations

import argparse

import cv2

from facedetection.cascade_store import DEFAULT_MODEL_NAME, load_store_engine
from facedetection.engine import DEFAULT_CASCADE, FaceEngine, FaceSettings
from facedetection.servicer import LegacyFaceServicer
from liquidedge.config import EnvDefaultsParser, add_common_flags, check_common
from liquidedge.engine import Engine
from liquidedge.legacy import robot_pb2_grpc
from liquidedge.metrics import ServiceMetrics
from liquidedge.server import ServiceBinding
from liquidedge.service import ServiceHandle, start_detector
from modelstore.serving import add_serving_flags, check_serving_args

DEFAULT_PORT = 50053
DEFAULT_METRICS_PORT = 9153


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="facedetection", description="Haar cascade face detection over gRPC")
    add_common_flags(parser, port=DEFAULT_PORT, metrics_port=DEFAULT_METRICS_PORT, max_in_flight=16)
    parser.env_flag("--cascade", "FACE_CASCADE", default=DEFAULT_CASCADE, help="Haar cascade XML file")
    defaults = FaceSettings()  # measured defaults: docs/cpu.md, `make face-tuning`
    parser.env_flag(
        "--scale-factor",
        "FACE_SCALE_FACTOR",
        default=defaults.scale_factor,
        type=float,
        help="pyramid step (> 1)",
    )
    parser.env_flag(
        "--min-neighbors",
        "FACE_MIN_NEIGHBORS",
        default=defaults.min_neighbors,
        type=int,
        help="overlaps needed to keep a face",
    )
    parser.env_flag(
        "--min-size",
        "FACE_MIN_SIZE",
        default=defaults.min_size,
        type=int,
        help="smallest face side in pixels",
    )
    parser.env_flag(
        "--downscale",
        "FACE_DOWNSCALE",
        default=defaults.downscale,
        type=float,
        help="detect on a copy shrunk by this ratio (0..1]",
    )
    parser.env_flag(
        "--instances",
        "FACE_INSTANCES",
        default=defaults.instances,
        type=int,
        help="classifiers run in parallel",
    )
    parser.env_flag(
        "--opencv-threads",
        "FACE_OPENCV_THREADS",
        default=0,
        type=int,
        help="OpenCV's worker threads for the process (0: OpenCV's choice, one per core); 1 spends "
        "about 15%% less CPU per face frame when several frames overlap, at a slower lone frame",
    )
    add_serving_flags(parser, model_name=DEFAULT_MODEL_NAME)
    return parser


def settings_from(args: argparse.Namespace) -> FaceSettings:
    """The engine's settings from the flags; raises ValueError on values the engine refuses."""
    return FaceSettings(
        cascade_path=args.cascade,
        scale_factor=args.scale_factor,
        min_neighbors=args.min_neighbors,
        min_size=args.min_size,
        downscale=args.downscale,
        instances=args.instances,
    )


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every start-up check, as `parser.error` (exit status 2 with a readable message)."""
    check_common(parser, args)
    check_serving_args(parser, args)
    if args.opencv_threads < 0:
        parser.error(f"--opencv-threads must be 0 (OpenCV's choice) or more, not {args.opencv_threads}")
    try:
        settings_from(args)
    except ValueError as error:
        parser.error(str(error))


def start(args: argparse.Namespace) -> ServiceHandle:
    """Serve face detection on `args.host:args.port` (0 picks a port); SERVING once loaded."""
    settings = settings_from(args)
    if args.opencv_threads > 0:
        # Process-wide by OpenCV's design: a setting of the process this service owns.
        cv2.setNumThreads(args.opencv_threads)
    metrics = ServiceMetrics("facedetection")

    def load() -> Engine:
        if args.model_store:  # the cascade from the store, followed and hot-swapped
            return load_store_engine(args, settings, metrics)
        return FaceEngine(settings)

    return start_detector(
        "facedetection",
        "face",
        lambda detector: ServiceBinding(
            LegacyFaceServicer(detector), robot_pb2_grpc.add_FaceDetectionServicer_to_server, "FaceDetection"
        ),
        args,
        load,
        metrics=metrics,
    )
