"""Shared fixtures: real services on loopback ports, real sample frames.

The services are started with the same `start(args)` functions their `__main__` uses, bound
to port 0 on 127.0.0.1, and talked to over real gRPC channels.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from liquidedge.samples import SampleFrame, sample_frames
from liquidedge.service import ServiceHandle

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def model_dir() -> str:
    path = Path(os.environ.get("LIQUIDEDGE_MODEL_DIR", REPO / "models"))
    if not (path / "yolov3-tiny.weights").is_file():
        pytest.fail(f"YOLOv3-tiny is missing from {path}: run `make models` (make test does it for you)")
    return str(path)


@pytest.fixture(scope="session")
def frames() -> dict[str, SampleFrame]:
    return {frame.name: frame for frame in sample_frames()}


@pytest.fixture(scope="session")
def astronaut_jpeg(frames: dict[str, SampleFrame]) -> bytes:
    return frames["astronaut"].jpeg


def start_face(*extra: str) -> ServiceHandle:
    from facedetection.__main__ import build_parser, start

    return start(build_parser().parse_args(["--port", "0", "--metrics-port", "0", *extra]))


def start_yolo(model_dir: str, *extra: str) -> ServiceHandle:
    from yolodetection.__main__ import build_parser, start

    return start(
        build_parser().parse_args(["--port", "0", "--metrics-port", "0", "--model-dir", model_dir, *extra])
    )


def start_aggregator(face_addr: str, yolo_addr: str, *extra: str) -> ServiceHandle:
    from objectdetection.__main__ import build_parser, start

    args = ["--port", "0", "--metrics-port", "0", "--face-addr", face_addr, "--yolo-addr", yolo_addr]
    return start(build_parser().parse_args([*args, "--health-interval-s", "0.2", *extra]))


@pytest.fixture(scope="session")
def face_service() -> Iterator[ServiceHandle]:
    handle = start_face()
    yield handle
    handle.stop(0)


@pytest.fixture(scope="session")
def yolo_service(model_dir: str) -> Iterator[ServiceHandle]:
    handle = start_yolo(model_dir)
    yield handle
    handle.stop(0)


@pytest.fixture(scope="session")
def aggregator_service(face_service: ServiceHandle, yolo_service: ServiceHandle) -> Iterator[ServiceHandle]:
    handle = start_aggregator(f"127.0.0.1:{face_service.port}", f"127.0.0.1:{yolo_service.port}")
    yield handle
    handle.stop(0)


@pytest.fixture
def channel_to() -> Iterator[Callable[[int], grpc.Channel]]:
    opened: list[grpc.Channel] = []

    def open_channel(port: int) -> grpc.Channel:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        opened.append(channel)
        return channel

    yield open_channel
    for channel in opened:
        channel.close()
