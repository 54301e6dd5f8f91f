"""A detector's start-up and shut-down: what it opened is closed, whichever step fails."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable

import numpy as np
import pytest

from liquidedge.config import EnvDefaultsParser, add_common_flags
from liquidedge.detections import Detections
from liquidedge.detector_servicer import DetectorServicer
from liquidedge.legacy import robot_pb2_grpc
from liquidedge.server import ServiceBinding
from liquidedge.service import start_detector
from support.calls import SERVING, detect, health_status
from support.ports import free_port, listening, port_taken
from support.waiting import wait_threads_end


class CountingEngine:
    """An engine that finds one box anywhere, and records being closed (as a batcher is)."""

    name = "face"

    def __init__(self) -> None:
        self.closed = 0

    def detect(self, image_bgr: np.ndarray, deadline: float | None = None) -> Detections:
        return Detections(
            xyxy=[(1, 1, 5, 5)], confidence=[0.9], label=["face"], engine=["face"], color_rgb=[(0, 0, 0)]
        )

    def close(self) -> None:
        self.closed += 1


def legacy_stub_binding(_detector: DetectorServicer) -> ServiceBinding:
    # The generated base servicer: enough to be registered, as a real legacy servicer is.
    servicer = robot_pb2_grpc.FaceDetectionServicer()
    return ServiceBinding(servicer, robot_pb2_grpc.add_FaceDetectionServicer_to_server, "FaceDetection")


def detector_args(*flags: str) -> argparse.Namespace:
    parser = EnvDefaultsParser(prog="detector")
    add_common_flags(parser, port=0, metrics_port=0, max_in_flight=4)
    return parser.parse_args(["--port", "0", "--metrics-port", "0", *flags])


def start_and_expect_failure(
    args: argparse.Namespace, load: Callable[[], CountingEngine], match: str
) -> None:
    threads_before = threading.enumerate()
    with pytest.raises(Exception, match=match):
        start_detector("detector", "face", legacy_stub_binding, args, load)
    assert not listening(args.port), "the gRPC port is still open after the failed start"
    wait_threads_end(threads_before)


def test_a_model_that_fails_to_load_closes_the_server_and_metrics() -> None:
    def broken() -> CountingEngine:
        raise RuntimeError("weights file is truncated")

    port, metrics_port = free_port(), free_port()
    args = detector_args("--port", str(port), "--metrics-port", str(metrics_port))
    start_and_expect_failure(args, broken, "weights file is truncated")
    assert not listening(metrics_port), "the metrics port is still open after the failed start"


def test_a_metrics_port_in_use_closes_the_server_before_the_model_is_loaded() -> None:
    loads: list[CountingEngine] = []

    def load() -> CountingEngine:
        loads.append(CountingEngine())
        return loads[-1]

    with port_taken() as taken:
        args = detector_args("--port", str(free_port()), "--metrics-port", str(taken))
        start_and_expect_failure(args, load, f"/metrics on 127.0.0.1:{taken}: Address already in use")
    assert loads == []  # the model is not loaded for a service that cannot start


def test_a_started_detector_serves_then_closes_its_engine_once(astronaut_jpeg: bytes) -> None:
    engine = CountingEngine()
    handle = start_detector("detector", "face", legacy_stub_binding, detector_args(), lambda: engine)
    try:
        assert health_status(handle.port) == SERVING
        reply = detect(handle.port, astronaut_jpeg)
        assert [(d.label, d.box.width) for d in reply.detections] == [("face", 4)]
    finally:
        handle.stop(0)
    assert engine.closed == 1
    assert not listening(handle.port) and not listening(handle.metrics_port)
