"""The aggregator's behaviour in both server modes (`--server-mode thread|aio`), on real servers.

Each test runs once per mode: the asyncio aggregator must answer, refuse, degrade, recover,
authenticate, report health and drain exactly as the thread-pool one does.
"""

from __future__ import annotations

import queue
import signal
import struct
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from liquidedge.imaging import encode_jpeg
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.service import ServiceHandle
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from meshtools.localmesh import start_service
from meshtools.samples import SampleFrame
from servicekit import start_aggregator, start_face, start_yolo
from support.fake_detector import FakeDetector, start_fake_detector

MODES = ("thread", "aio")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
TOKEN = "robot-token-for-aio-tests"


def request(jpeg: bytes, number: int = 7, **fields: object) -> detection_pb2.DetectRequest:
    frame = detection_pb2.Frame(number=number, capture_time_us=123_456_789, jpeg=jpeg, source_id="robot-1")
    return detection_pb2.DetectRequest(frame=frame, **fields)


def wait_for(predicate: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def health(port: int, service: str = "") -> int | None:
    """The health status, or None when the port does not answer (a server that stopped listening)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=2
            )
        except grpc.RpcError:
            return None
    return reply.status


def metrics_text(handle: ServiceHandle) -> str:
    url = f"http://127.0.0.1:{handle.metrics_port}/metrics"
    return urllib.request.urlopen(url, timeout=5).read().decode()


@pytest.fixture(scope="module", params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def aggregator(
    mode: str, face_service: ServiceHandle, yolo_service: ServiceHandle
) -> Iterator[ServiceHandle]:
    handle = start_aggregator(
        f"127.0.0.1:{face_service.port}",
        f"127.0.0.1:{yolo_service.port}",
        "--server-mode",
        mode,
        "--view-port",
        "0",
    )
    yield handle
    handle.stop(0)


@pytest.fixture
def stub(aggregator: ServiceHandle) -> Iterator[detection_pb2_grpc.DetectorStub]:
    with grpc.insecure_channel(f"127.0.0.1:{aggregator.port}") as channel:
        yield detection_pb2_grpc.DetectorStub(channel)


def test_v1_detect_runs_face_and_yolo_and_counts_it(
    aggregator: ServiceHandle, stub: detection_pb2_grpc.DetectorStub, frames: dict[str, SampleFrame]
) -> None:
    reply = stub.Detect(request(frames["astronaut"].jpeg), timeout=10)
    assert (reply.frame_number, reply.capture_time_us, reply.source_id) == (7, 123_456_789, "robot-1")
    assert [d.label for d in reply.detections if d.engine == "face"] == ["face"]
    assert {e.engine: e.code for e in reply.engines} == {"face": "OK", "yolo": "OK"}
    assert (reply.image_width, reply.image_height) == (640, 480) and reply.timings.total_ms > 0
    people = stub.Detect(request(frames["camera"].jpeg, engines=["yolo"], classes=["person"]), timeout=10)
    assert people.detections and {d.label for d in people.detections} == {"person"}
    assert [e.engine for e in people.engines] == ["yolo"]
    text = metrics_text(aggregator)
    assert 'liquidedge_requests_total{code="OK",method="Detect",service="objectdetection"}' in text
    assert 'liquidedge_engine_calls_total{code="OK",engine="yolo",service="objectdetection"}' in text
    assert 'liquidedge_backend_up{engine="face",service="objectdetection"} 1.0' in text
    for service in ("", "liquidedge.v1.Detector", "ObjectDetection"):
        assert health(aggregator.port, service) == SERVING


def test_stream_answers_every_frame_in_order(
    stub: detection_pb2_grpc.DetectorStub, frames: dict[str, SampleFrame]
) -> None:
    sent = [request(frame.jpeg, number=i) for i, frame in enumerate([*frames.values()] * 2)]
    replies = list(stub.DetectStream(iter(sent), timeout=60))
    assert [r.frame_number for r in replies] == list(range(len(sent)))


def test_a_bad_frame_ends_only_its_stream_with_its_code(stub: detection_pb2_grpc.DetectorStub) -> None:
    sent = [request(encode_jpeg(np.full((480, 640, 3), 90, np.uint8)), number=1), request(b"junk", 2)]
    replies = stub.DetectStream(iter(sent), timeout=30)
    assert next(replies).frame_number == 1
    with pytest.raises(grpc.RpcError) as error:
        next(replies)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_legacy_object_detect_and_unknown_user(aggregator: ServiceHandle, astronaut_jpeg: bytes) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{aggregator.port}") as channel:
        legacy = robot_pb2_grpc.ObjectDetectionStub(channel)
        frame = robot_pb2.VideoFrame(number=42, timestamp=1_700_000_000_123, img=astronaut_jpeg)
        reply = legacy.ObjectDetect(
            robot_pb2.ObjectDetectionRequest(user_id=1, frame=frame, wantface=1, wantyolo=1), timeout=10
        )
        assert (reply.number, reply.timestamp) == (42, 1_700_000_000_123)
        assert [o.eng for o in reply.objects if o.name == "face"] == [robot_pb2.DetectedObject.FACE]
        assert reply.ipv4 != 0 and reply.name
        with pytest.raises(grpc.RpcError) as error:
            legacy.ObjectDetect(
                robot_pb2.ObjectDetectionRequest(user_id=9, frame=frame, wantface=1), timeout=10
            )
        assert error.value.code() == grpc.StatusCode.NOT_FOUND


def _huge_header() -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 10000, 10000, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + b"\x00" * 64 + b"\xff\xd9"


def _png() -> bytes:
    return cv2.imencode(".png", np.zeros((48, 64, 3), np.uint8))[1].tobytes()


BAD = [
    # (case id, request factory, expected code)
    ("no frame", lambda: detection_pb2.DetectRequest(), grpc.StatusCode.INVALID_ARGUMENT),
    ("empty frame", lambda: request(b""), grpc.StatusCode.INVALID_ARGUMENT),
    ("PNG", lambda: request(_png()), grpc.StatusCode.INVALID_ARGUMENT),
    ("10000x10000 header", lambda: request(_huge_header()), grpc.StatusCode.RESOURCE_EXHAUSTED),
    ("unknown engine", lambda: request(b"\xff\xd8", engines=["sonar"]), grpc.StatusCode.INVALID_ARGUMENT),
    ("negative max_results", lambda: request(b"\xff\xd8", max_results=-1), grpc.StatusCode.INVALID_ARGUMENT),
]


@pytest.mark.parametrize(("case", "make", "code"), BAD, ids=[c[0] for c in BAD])
def test_bad_input_gets_its_code_and_the_next_frame_is_served(
    aggregator: ServiceHandle,
    stub: detection_pb2_grpc.DetectorStub,
    astronaut_jpeg: bytes,
    case: str,
    make: Callable[[], detection_pb2.DetectRequest],
    code: grpc.StatusCode,
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        stub.Detect(make(), timeout=10)
    assert error.value.code() == code, case
    assert error.value.details()
    assert f'liquidedge_requests_total{{code="{code.name}",method="Detect"' in metrics_text(aggregator)
    assert stub.Detect(request(astronaut_jpeg), timeout=10).engines


def test_live_view_sees_the_answered_frame(
    aggregator: ServiceHandle, stub: detection_pb2_grpc.DetectorStub, astronaut_jpeg: bytes
) -> None:
    stub.Detect(request(astronaut_jpeg), timeout=10)
    jpeg = urllib.request.urlopen(f"http://127.0.0.1:{aggregator.view_port}/frame.jpg", timeout=5).read()
    assert jpeg[:2] == b"\xff\xd8" and jpeg != astronaut_jpeg


@pytest.mark.parametrize("server_mode", MODES)
def test_partial_answer_while_yolo_is_down_then_recovery(
    server_mode: str, model_dir: str, astronaut_jpeg: bytes
) -> None:
    face, yolo = start_face(), start_yolo(model_dir)
    yolo_port = yolo.port
    aggregator = start_aggregator(
        f"127.0.0.1:{face.port}",
        f"127.0.0.1:{yolo_port}",
        *("--engine-timeout-ms", "1500", "--server-mode", server_mode),
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{aggregator.port}")
    try:
        stub = detection_pb2_grpc.DetectorStub(channel)
        assert {e.code for e in stub.Detect(request(astronaut_jpeg), timeout=10).engines} == {"OK"}
        yolo.stop(0)
        reply = stub.Detect(request(astronaut_jpeg), timeout=5)
        statuses = {e.engine: e for e in reply.engines}
        assert statuses["face"].ok and not statuses["yolo"].ok and statuses["yolo"].error
        assert statuses["yolo"].code in {"UNAVAILABLE", "DEADLINE_EXCEEDED"}
        assert [d.label for d in reply.detections] == ["face"]
        assert wait_for(lambda: health(aggregator.port) == SERVING)  # face still answers
        yolo = start_yolo(model_dir, "--port", str(yolo_port))
        assert wait_for(lambda: all(e.ok for e in stub.Detect(request(astronaut_jpeg), timeout=5).engines))
    finally:
        channel.close()
        aggregator.stop(0)
        yolo.stop(0)
        face.stop(0)


@pytest.mark.parametrize("server_mode", MODES)
def test_every_engine_down_is_unavailable_and_not_serving(server_mode: str, astronaut_jpeg: bytes) -> None:
    face = start_face()
    aggregator = start_aggregator(f"127.0.0.1:{face.port}", "127.0.0.1:1", "--server-mode", server_mode)
    try:
        assert wait_for(lambda: health(aggregator.port) == SERVING)
        face.stop(0)
        assert wait_for(lambda: health(aggregator.port) == NOT_SERVING)
        assert health(aggregator.port, "liquidedge.v1.Detector") == NOT_SERVING
        with (
            grpc.insecure_channel(f"127.0.0.1:{aggregator.port}") as channel,
            pytest.raises(grpc.RpcError) as error,
        ):
            detection_pb2_grpc.DetectorStub(channel).Detect(request(astronaut_jpeg), timeout=5)
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "every requested engine failed" in error.value.details()
    finally:
        aggregator.stop(0)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for localhost, and a token file."""
    directory = tmp_path_factory.mktemp("aio-pki")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "server.key", "-out", "server.pem", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        cwd=directory, check=True, capture_output=True,
    )  # fmt: skip
    (directory / "tokens").write_text(f"{TOKEN}\n")
    return directory


@pytest.mark.parametrize("server_mode", MODES)
def test_tls_and_bearer_tokens(
    server_mode: str, pki: Path, face_service: ServiceHandle, astronaut_jpeg: bytes
) -> None:
    aggregator = start_aggregator(
        f"127.0.0.1:{face_service.port}",
        "",
        *("--server-mode", server_mode, "--tls-cert", str(pki / "server.pem")),
        *("--tls-key", str(pki / "server.key"), "--auth-tokens-file", str(pki / "tokens")),
    )
    credentials = grpc.ssl_channel_credentials((pki / "server.pem").read_bytes())
    try:
        with grpc.secure_channel(f"localhost:{aggregator.port}", credentials) as channel:
            stub = detection_pb2_grpc.DetectorStub(channel)
            reply = stub.Detect(
                request(astronaut_jpeg), timeout=10, metadata=(("authorization", f"Bearer {TOKEN}"),)
            )
            assert [d.label for d in reply.detections] == ["face"]
            for metadata in (None, (("authorization", "Bearer guess"),)):
                with pytest.raises(grpc.RpcError) as error:
                    stub.Detect(request(astronaut_jpeg), timeout=10, metadata=metadata)
                assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as error:
                list(stub.DetectStream(iter([request(astronaut_jpeg)]), timeout=10))
            assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
            # Probes carry no token; the legacy robots keep their user_id check instead.
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert status.status == SERVING
            legacy = robot_pb2_grpc.ObjectDetectionStub(channel).ObjectDetect(
                robot_pb2.ObjectDetectionRequest(
                    user_id=1, frame=robot_pb2.VideoFrame(number=1, img=astronaut_jpeg), wantface=1
                ),
                timeout=10,
            )
            assert [o.name for o in legacy.objects] == ["face"]
        with grpc.insecure_channel(f"localhost:{aggregator.port}") as plain:
            with pytest.raises(grpc.RpcError) as error:
                detection_pb2_grpc.DetectorStub(plain).Detect(request(astronaut_jpeg), timeout=5)
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        aggregator.stop(0)


@pytest.fixture
def held_fake() -> Iterator[tuple[FakeDetector, threading.Event, int]]:
    """A fake detector that holds every frame until the test lets it go."""
    hold = threading.Event()
    fake = FakeDetector(hold)
    running = start_fake_detector(fake)
    yield fake, hold, running.port
    hold.set()
    running.stop(0)


@pytest.mark.parametrize("server_mode", MODES)
def test_a_client_that_hangs_up_cancels_the_engine_calls(
    server_mode: str, held_fake: tuple[FakeDetector, threading.Event, int], astronaut_jpeg: bytes
) -> None:
    fake, hold, port = held_fake
    aggregator = start_aggregator(f"127.0.0.1:{port}", "", "--server-mode", server_mode)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{aggregator.port}") as channel:
            call = detection_pb2_grpc.DetectorStub(channel).Detect.future(request(astronaut_jpeg), timeout=30)
            assert fake.received.wait(10)
            call.cancel()
        cancelled = 'liquidedge_engine_calls_total{code="CANCELLED",engine="face",service="objectdetection"}'
        assert wait_for(lambda: cancelled in metrics_text(aggregator))
    finally:
        hold.set()
        aggregator.stop(0)


@pytest.mark.parametrize("server_mode", MODES)
def test_sigterm_drains_the_frame_in_flight_then_exits(
    server_mode: str, held_fake: tuple[FakeDetector, threading.Event, int], astronaut_jpeg: bytes
) -> None:
    fake, hold, port = held_fake
    process = start_service(
        f"aggregator-{server_mode}",
        "objectdetection",
        [
            *("--face-addr", f"127.0.0.1:{port}", "--yolo-addr", ""),
            *("--server-mode", server_mode, "--shutdown-grace-s", "20"),
        ],
    )
    try:
        with grpc.insecure_channel(process.address) as channel:
            call = detection_pb2_grpc.DetectorStub(channel).Detect.future(request(astronaut_jpeg), timeout=60)
            assert fake.received.wait(10)
            process.signal(signal.SIGTERM)
            # Draining: health no longer says SERVING, yet the frame in flight is still being served.
            assert wait_for(lambda: health(process.port) != SERVING)
            assert not call.done()
            hold.set()
            reply = call.result()
        assert [e.code for e in reply.engines] == ["OK"] and reply.frame_number == 7
        assert process.process is not None and process.process.wait(30) == 0
    finally:
        hold.set()
        process.stop()


@pytest.mark.parametrize("server_mode", MODES)
def test_stop_ends_open_streams_at_their_next_frame(
    server_mode: str, face_service: ServiceHandle, astronaut_jpeg: bytes
) -> None:
    """Draining answers the frame in flight, then ends the stream so the robot reconnects elsewhere."""
    aggregator = start_aggregator(f"127.0.0.1:{face_service.port}", "", "--server-mode", server_mode)
    requests: queue.Queue[detection_pb2.DetectRequest | None] = queue.Queue()

    def frames() -> Iterator[detection_pb2.DetectRequest]:
        while (item := requests.get(timeout=20)) is not None:
            yield item

    stopper = threading.Thread(target=aggregator.stop, args=(30.0,))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{aggregator.port}") as channel:
            replies = detection_pb2_grpc.DetectorStub(channel).DetectStream(frames(), timeout=60)
            requests.put(request(astronaut_jpeg, number=1))
            assert next(replies).frame_number == 1
            stopper.start()
            assert wait_for(lambda: health(aggregator.port) != SERVING)  # drainers ran first
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
        if not stopper.is_alive() and stopper.ident is None:
            aggregator.stop(0)
