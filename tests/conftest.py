"""Shared fixtures: real services on loopback ports, real sample frames.

The services are started with the same `start(args)` functions their `__main__` uses, bound
to port 0 on 127.0.0.1, and talked to over real gRPC channels.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from liquidedge.service import ServiceHandle
from meshtools.samples import SampleFrame, sample_frames
from support.calls import open_channel
from support.services import start_aggregator, start_face, start_yolo

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

    def open_one(port: int) -> grpc.Channel:
        opened.append(open_channel(port))
        return opened[-1]

    yield open_one
    for channel in opened:
        channel.close()


@pytest.fixture
def keep_root_logging() -> Iterator[None]:
    """For tests that call a program's main() in-process: it configures the root logger as a
    process would; put pytest's handlers and level back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
