"""The aggregator and both detectors as real gRPC servers on loopback, driven like a robot."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

import grpc
import pytest

from liquidedge.hostinfo import HostInfo
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.service import ServiceHandle
from liquidedge.v1 import detection_pb2_grpc
from meshtools.samples import SampleFrame
from support.calls import (
    NOT_SERVING,
    SERVING,
    health_status,
    metric_sum,
    request,
    scrape,
    wait_health,
    wait_metric,
)
from support.services import start_aggregator, start_face, start_yolo
from support.waiting import wait_for

Channel = Callable[[int], grpc.Channel]


def test_v1_detect_returns_the_face_and_every_engine_status(
    aggregator_service: ServiceHandle, channel_to: Channel, astronaut_jpeg: bytes
) -> None:
    stub = detection_pb2_grpc.DetectorStub(channel_to(aggregator_service.port))
    reply = stub.Detect(request(astronaut_jpeg), timeout=10)
    assert (reply.frame_number, reply.capture_time_us, reply.source_id) == (7, 123_456_789, "robot-1")
    faces = [d for d in reply.detections if d.label == "face"]
    assert len(faces) == 1 and faces[0].engine == "face" and faces[0].box.width > 80
    assert {e.engine: e.code for e in reply.engines} == {"face": "OK", "yolo": "OK"}
    # The services run in this process, so every part of the answer names this host.
    here = HostInfo.detect()
    assert {e.engine: (e.ok, e.served_by.hostname) for e in reply.engines} == {
        "face": (True, here.hostname),
        "yolo": (True, here.hostname),
    }
    assert (reply.served_by.hostname, reply.served_by.address) == (here.hostname, here.address)
    assert (reply.image_width, reply.image_height) == (640, 480)
    assert reply.timings.total_ms > 0


def test_yolo_objects_come_through_the_mesh(
    aggregator_service: ServiceHandle, channel_to: Channel, frames: dict[str, SampleFrame]
) -> None:
    stub = detection_pb2_grpc.DetectorStub(channel_to(aggregator_service.port))
    reply = stub.Detect(request(frames["camera"].jpeg, engines=["yolo"]), timeout=10)
    assert [e.engine for e in reply.engines] == ["yolo"]
    assert "person" in {d.label for d in reply.detections}
    assert all(d.engine == "yolo" for d in reply.detections)


@pytest.mark.parametrize(
    ("frame", "options", "check"),
    [
        ("astronaut", {"classes": ["face"]}, lambda labels: labels == ["face"]),  # class filter
        ("astronaut", {"classes": ["person"]}, lambda labels: labels == []),  # the face is dropped
        ("camera", {"classes": ["person"]}, lambda labels: labels and set(labels) == {"person"}),
        ("camera", {}, lambda labels: labels.count("person") >= 2),  # the baseline for the next case
        ("camera", {"max_results": 1}, lambda labels: labels == ["person"]),  # top-1 over both engines
        ("astronaut", {"min_confidence": 0.99}, lambda labels: labels == []),  # nothing that sure
        ("camera", {"engines": ["face"]}, lambda labels: "person" not in labels),  # YOLO not asked
    ],
)
def test_filters(
    aggregator_service: ServiceHandle,
    channel_to: Channel,
    frames: dict[str, SampleFrame],
    frame: str,
    options: dict,
    check: Callable[[list[str]], bool],
) -> None:
    stub = detection_pb2_grpc.DetectorStub(channel_to(aggregator_service.port))
    reply = stub.Detect(request(frames[frame].jpeg, **options), timeout=10)
    assert check([d.label for d in reply.detections]), [d.label for d in reply.detections]


def test_stream_answers_every_frame_in_order(
    aggregator_service: ServiceHandle, channel_to: Channel, frames: dict[str, SampleFrame]
) -> None:
    stub = detection_pb2_grpc.DetectorStub(channel_to(aggregator_service.port))
    sent = [request(frame.jpeg, number=i) for i, frame in enumerate(frames.values())]
    replies = list(stub.DetectStream(iter(sent), timeout=30))
    assert [r.frame_number for r in replies] == list(range(len(sent)))


def test_legacy_object_detect_with_generated_stubs(
    aggregator_service: ServiceHandle, channel_to: Channel, astronaut_jpeg: bytes
) -> None:
    stub = robot_pb2_grpc.ObjectDetectionStub(channel_to(aggregator_service.port))
    frame = robot_pb2.VideoFrame(number=42, timestamp=1_700_000_000_123, img=astronaut_jpeg)
    reply = stub.ObjectDetect(
        robot_pb2.ObjectDetectionRequest(user_id=1, frame=frame, wantface=1, wantyolo=1), timeout=10
    )
    assert (reply.number, reply.timestamp) == (42, 1_700_000_000_123)
    faces = [o for o in reply.objects if o.name == "face"]
    assert len(faces) == 1 and faces[0].eng == robot_pb2.DetectedObject.FACE
    here = HostInfo.detect()  # the aggregator runs in this process
    assert (reply.ipv4, reply.name) == (here.ipv4_int, here.hostname) and reply.ipv4 != 0


def test_legacy_face_service(face_service: ServiceHandle, channel_to: Channel, astronaut_jpeg: bytes) -> None:
    stub = robot_pb2_grpc.FaceDetectionStub(channel_to(face_service.port))
    frame = robot_pb2.VideoFrame(number=3, timestamp=99, img=astronaut_jpeg)
    reply = stub.FaceDetect(robot_pb2.FaceDetectionRequest(frame=frame), timeout=20)
    assert (reply.number, reply.timestamp) == (3, 99)
    assert len(reply.faces) == 1  # the astronaut's face, where the legacy wire test finds it too
    face = reply.faces[0]
    assert 200 < face.x < 240 and 30 < face.y < 70 and 100 < face.w < 140 and 0.5 < face.confidence <= 1


def test_legacy_yolo_service(
    yolo_service: ServiceHandle, channel_to: Channel, frames: dict[str, SampleFrame]
) -> None:
    stub = robot_pb2_grpc.YoloDetectionStub(channel_to(yolo_service.port))
    frame = robot_pb2.VideoFrame(number=3, timestamp=99, img=frames["camera"].jpeg)
    reply = stub.YoloDetect(robot_pb2.YoloDetectionRequest(frame=frame), timeout=20)
    assert (reply.number, reply.timestamp) == (3, 99)
    assert "person" in {y.name for y in reply.yolos}  # the cameraman
    assert all(y.w > 0 and y.h > 0 and 0 < y.confidence <= 1 for y in reply.yolos)


def test_partial_answers_while_yolo_is_down_and_recovery_without_restart(
    model_dir: str, channel_to: Channel, astronaut_jpeg: bytes
) -> None:
    face = start_face()
    yolo = start_yolo(model_dir)
    yolo_port = yolo.port
    aggregator = start_aggregator(
        f"127.0.0.1:{face.port}", f"127.0.0.1:{yolo_port}", "--engine-timeout-ms", "1500"
    )
    try:
        stub = detection_pb2_grpc.DetectorStub(channel_to(aggregator.port))
        assert {e.code for e in stub.Detect(request(astronaut_jpeg), timeout=10).engines} == {"OK"}

        yolo.stop(0)
        # Answered within the client's deadline (else DEADLINE_EXCEEDED), not hung on the dead engine.
        reply = stub.Detect(request(astronaut_jpeg), timeout=3)
        statuses = {e.engine: e for e in reply.engines}
        assert statuses["face"].ok and not statuses["yolo"].ok
        assert statuses["yolo"].code in {"UNAVAILABLE", "DEADLINE_EXCEEDED"} and statuses["yolo"].error
        assert [d.label for d in reply.detections] == ["face"]
        # The aggregator still has a working engine, so it stays SERVING once it has seen YOLO go.
        wait_metric(aggregator.metrics_port, "liquidedge_backend_up", 0, engine="yolo")
        assert health_status(aggregator.port) == SERVING

        yolo = start_yolo(model_dir, "--port", str(yolo_port))

        def full_answer() -> bool:
            engines = stub.Detect(request(astronaut_jpeg), timeout=5).engines
            return all(e.ok for e in engines)

        wait_for(full_answer, what="full answers to resume after YOLO came back")
    finally:
        aggregator.stop(0)
        yolo.stop(0)
        face.stop(0)


def test_every_engine_down_is_unavailable_and_not_serving(channel_to: Channel, astronaut_jpeg: bytes) -> None:
    face = start_face()
    aggregator = start_aggregator(f"127.0.0.1:{face.port}", "127.0.0.1:1")
    try:
        wait_health(aggregator.port, SERVING)
        face.stop(0)
        wait_health(aggregator.port, NOT_SERVING)
        assert health_status(aggregator.port, "liquidedge.v1.Detector") == NOT_SERVING
        with pytest.raises(grpc.RpcError) as error:
            detection_pb2_grpc.DetectorStub(channel_to(aggregator.port)).Detect(
                request(astronaut_jpeg), timeout=5
            )
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "every requested engine failed" in error.value.details()
    finally:
        aggregator.stop(0)


def test_health_and_metrics_endpoints(
    aggregator_service: ServiceHandle, channel_to: Channel, astronaut_jpeg: bytes
) -> None:
    for service in ("", "liquidedge.v1.Detector", "ObjectDetection"):
        assert health_status(aggregator_service.port, service) == SERVING
    before = scrape(aggregator_service.metrics_port)
    detection_pb2_grpc.DetectorStub(channel_to(aggregator_service.port)).Detect(
        request(astronaut_jpeg), timeout=10
    )
    after = scrape(aggregator_service.metrics_port)

    def counted(name: str, **labels: str) -> float:
        """What this one frame added to a counter of the aggregator (the session's earlier frames apart)."""
        labels["service"] = "objectdetection"
        return metric_sum(after, name, **labels) - metric_sum(before, name, **labels)

    assert counted("liquidedge_requests_total", method="Detect", code="OK") == 1
    for engine in ("face", "yolo"):
        assert counted("liquidedge_engine_calls_total", engine=engine, code="OK") == 1
        assert counted("liquidedge_engine_latency_seconds_count", engine=engine) == 1
        assert metric_sum(after, "liquidedge_backend_up", engine=engine) == 1
        assert metric_sum(after, "liquidedge_replicas_in_service", engine=engine) == 1
    assert metric_sum(after, "liquidedge_frames_in_flight", service="objectdetection") == 0


def test_live_view_serves_the_latest_frame_with_boxes(
    face_service: ServiceHandle, yolo_service: ServiceHandle, astronaut_jpeg: bytes, channel_to: Channel
) -> None:
    aggregator = start_aggregator(
        f"127.0.0.1:{face_service.port}", f"127.0.0.1:{yolo_service.port}", "--view-port", "0"
    )
    try:
        assert aggregator.view_port
        base = f"http://127.0.0.1:{aggregator.view_port}"
        assert "/stream" in urllib.request.urlopen(base + "/", timeout=5).read().decode()
        detection_pb2_grpc.DetectorStub(channel_to(aggregator.port)).Detect(
            request(astronaut_jpeg), timeout=10
        )
        jpeg = urllib.request.urlopen(base + "/frame.jpg", timeout=5).read()
        assert jpeg[:2] == b"\xff\xd8" and jpeg != astronaut_jpeg  # re-encoded, with the boxes drawn
        with urllib.request.urlopen(base + "/stream", timeout=5) as stream:
            assert "multipart/x-mixed-replace" in stream.headers["Content-Type"]
            assert b"\xff\xd8" in stream.read(4096)
    finally:
        aggregator.stop(0)
