"""The aggregator's life on real servers: start-up that fails cleanly, cancellation, drain, SIGTERM."""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import grpc
import pytest

from liquidedge.server import ServerOptions, ServiceBinding, create_server
from liquidedge.service import DETECTOR_SERVICE, ServiceHandle
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from support.calls import SERVING, request, wait_health, wait_metric
from support.ports import free_port, listening, port_taken
from support.services import start_aggregator, start_face
from support.waiting import wait_threads_end


class HeldDetector(detection_pb2_grpc.DetectorServicer):
    """A face detector that holds every frame until the test lets it go."""

    def __init__(self) -> None:
        self.received = threading.Event()
        self.release = threading.Event()

    def Detect(
        self, request: detection_pb2.DetectRequest, context: grpc.ServicerContext
    ) -> detection_pb2.DetectResponse:
        self.received.set()
        self.release.wait(30)
        status = detection_pb2.EngineStatus(engine="face", ok=True, code="OK")
        return detection_pb2.DetectResponse(frame_number=request.frame.number, engines=[status])


@pytest.fixture
def held() -> Iterator[tuple[HeldDetector, int]]:
    detector = HeldDetector()
    binding = ServiceBinding(detector, detection_pb2_grpc.add_DetectorServicer_to_server, DETECTOR_SERVICE)
    running = create_server([binding], ServerOptions())
    running.set_serving(True)
    yield detector, running.port
    detector.release.set()
    running.stop(0)


@pytest.mark.parametrize("taken_flag", ["--metrics-port", "--view-port"])
def test_a_port_in_use_fails_the_start_and_closes_what_was_opened(taken_flag: str) -> None:
    """The gRPC port, the event loop, the channels and the other ports opened before are closed again."""
    threads_before = threading.enumerate()
    grpc_port = free_port()
    with port_taken() as taken:
        flags = ("--port", str(grpc_port), "--view-port", "0", taken_flag, str(taken))
        with pytest.raises(OSError, match=f"on 127.0.0.1:{taken}: Address already in use"):
            start_aggregator("127.0.0.1:1", "", *flags)
    assert not listening(grpc_port), "the gRPC port opened before the failing step is still open"
    wait_threads_end(threads_before)


def test_main_says_why_it_could_not_start_and_exits_1() -> None:
    with port_taken() as taken:
        result = subprocess.run(
            [sys.executable, "-m", "objectdetection", "--port", "0", "--metrics-port", str(taken)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "LOG_FORMAT": "text"},
        )
    assert result.returncode == 1
    assert f"could not start: could not serve /metrics on 127.0.0.1:{taken}: Address already in use" in (
        result.stderr
    )


def test_a_client_that_hangs_up_cancels_the_engine_calls(
    held: tuple[HeldDetector, int], astronaut_jpeg: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    detector, port = held
    aggregator = start_aggregator(f"127.0.0.1:{port}", "")
    caplog.set_level(logging.INFO, logger="objectdetection.fanout")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{aggregator.port}") as channel:
            call = detection_pb2_grpc.DetectorStub(channel).Detect.future(request(astronaut_jpeg), timeout=30)
            assert detector.received.wait(10)
            call.cancel()
        wait_metric(
            aggregator.metrics_port, "liquidedge_engine_calls_total", 1, engine="face", code="CANCELLED"
        )
        wait_metric(
            aggregator.metrics_port, "liquidedge_requests_total", 1, method="Detect", code="CANCELLED"
        )
        # Counted, and said once at INFO: a client hanging up is not an engine failing.
        said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "objectdetection.fanout"]
        assert said == [(logging.INFO, "engine call cancelled by the client")]
    finally:
        aggregator.stop(0)


def test_sigterm_drains_the_frame_in_flight_then_exits(
    held: tuple[HeldDetector, int], astronaut_jpeg: bytes
) -> None:
    detector, port = held
    aggregator_port = free_port()
    command = [
        sys.executable,
        "-m",
        "objectdetection",
        "--port",
        str(aggregator_port),
        "--metrics-port",
        "-1",
    ]
    flags = ["--face-addr", f"127.0.0.1:{port}", "--yolo-addr", "", "--shutdown-grace-s", "20"]
    process = subprocess.Popen([*command, *flags], env={**os.environ, "LOG_LEVEL": "WARNING"})
    try:
        wait_health(aggregator_port, SERVING, timeout_s=60)
        with grpc.insecure_channel(f"127.0.0.1:{aggregator_port}") as channel:
            call = detection_pb2_grpc.DetectorStub(channel).Detect.future(request(astronaut_jpeg), timeout=60)
            assert detector.received.wait(10)
            process.send_signal(signal.SIGTERM)
            # Draining: health no longer says SERVING, yet the frame in flight is still being served.
            wait_health(aggregator_port, SERVING, leaves=True)
            assert not call.done()
            detector.release.set()
            reply = call.result()
        assert [e.code for e in reply.engines] == ["OK"] and reply.frame_number == 7
        assert process.wait(30) == 0
    finally:
        detector.release.set()
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(params=["aggregator", "face"])
def drained(request: pytest.FixtureRequest, face_service: ServiceHandle) -> Iterator[ServiceHandle]:
    """A service of each server kind (asyncio aggregator, thread-pool detector), to be stopped by the test."""
    handle = (
        start_aggregator(f"127.0.0.1:{face_service.port}", "")
        if request.param == "aggregator"
        else start_face()
    )
    yield handle
    handle.stop(0)  # again: a no-op when the test stopped it


def test_stop_ends_open_streams_at_their_next_frame(drained: ServiceHandle, astronaut_jpeg: bytes) -> None:
    """Draining answers the frame in flight, then ends the stream so the robot reconnects elsewhere."""
    requests: queue.Queue[detection_pb2.DetectRequest | None] = queue.Queue()

    def frames() -> Iterator[detection_pb2.DetectRequest]:
        while (item := requests.get(timeout=20)) is not None:
            yield item

    stopper = threading.Thread(target=drained.stop, args=(30.0,))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{drained.port}") as channel:
            replies = detection_pb2_grpc.DetectorStub(channel).DetectStream(frames(), timeout=60)
            requests.put(request(astronaut_jpeg, number=1))
            assert next(replies).frame_number == 1
            stopper.start()
            wait_health(drained.port, SERVING, leaves=True)  # drainers ran first
            requests.put(request(astronaut_jpeg, number=2))
            with pytest.raises(grpc.RpcError) as error:
                next(replies)
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "reopen the stream" in error.value.details()
            requests.put(None)
        stopper.join(timeout=20)
        assert not stopper.is_alive(), "the open stream held the server for its whole grace period"
    finally:
        requests.put(None)
