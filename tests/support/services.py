"""Start the real services in this process on loopback port 0, with the `start(args)` their
programs use; each returns the `ServiceHandle` to talk to and to stop."""

from __future__ import annotations

from liquidedge.service import ServiceHandle


def start_face(*extra: str) -> ServiceHandle:
    from facedetection.service import build_parser, start

    return start(build_parser().parse_args(["--port", "0", "--metrics-port", "0", *extra]))


def start_yolo(model_dir: str, *extra: str) -> ServiceHandle:
    from yolodetection.service import build_parser, start

    return start(
        build_parser().parse_args(["--port", "0", "--metrics-port", "0", "--model-dir", model_dir, *extra])
    )


def start_aggregator(face_addr: str, yolo_addr: str, *extra: str) -> ServiceHandle:
    """Health probes every 0.2 s (not the default 1 s), so tests see a backend change quickly."""
    from objectdetection.service import build_parser, start

    args = ["--port", "0", "--metrics-port", "0", "--face-addr", face_addr, "--yolo-addr", yolo_addr]
    return start(build_parser().parse_args([*args, "--health-interval-s", "0.2", *extra]))
