"""Hostile and broken input: the right status code, a useful message, and the service keeps serving."""

from __future__ import annotations

import struct
from collections.abc import Callable

import cv2
import grpc
import numpy as np
import pytest

from liquidedge.imaging import encode_jpeg
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.service import ServiceHandle
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from support.calls import detect

INVALID = grpc.StatusCode.INVALID_ARGUMENT
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


def png() -> bytes:
    return cv2.imencode(".png", np.zeros((48, 64, 3), np.uint8))[1].tobytes()


def huge_header() -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 10000, 10000, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + b"\x00" * 64 + b"\xff\xd9"


def real_huge_jpeg() -> bytes:
    # A genuine 10000x10000 JPEG (flat grey compresses to ~1.6 MB): refused from its header.
    return encode_jpeg(np.full((10000, 10000, 3), 128, np.uint8), quality=10)


def good() -> bytes:
    return encode_jpeg(np.full((480, 640, 3), 90, np.uint8))


CASES = [
    # (case id, jpeg factory, extra request fields, expected code, words in the message)
    ("empty frame", lambda: b"", {}, INVALID, "empty"),
    ("random bytes", lambda: np.random.default_rng(1).bytes(5000), {}, INVALID, "not a JPEG"),
    ("truncated JPEG", lambda: good()[:2000], {}, INVALID, "truncated"),
    ("PNG", png, {}, INVALID, "PNG"),
    ("10000x10000 header", huge_header, {}, EXHAUSTED, "10000x10000"),
    ("10000x10000 real JPEG", real_huge_jpeg, {}, EXHAUSTED, "10000x10000"),
    ("over the byte limit", lambda: b"\xff\xd8" + b"\x00" * (9 * 1024 * 1024), {}, EXHAUSTED, ""),
    ("negative max_results", good, {"max_results": -5}, INVALID, "max_results"),
    ("absurd max_results", good, {"max_results": 2_000_000_000}, INVALID, "max_results"),
    ("unknown engine", good, {"engines": ["face", "sonar"]}, INVALID, "sonar"),
    ("confidence above 1", good, {"min_confidence": 3.0}, INVALID, "min_confidence"),
    ("NaN confidence", good, {"min_confidence": float("nan")}, INVALID, "min_confidence"),
    ("negative per-frame deadline", good, {"deadline_ms": -1}, INVALID, "deadline_ms"),
]


@pytest.fixture(params=["aggregator", "face", "yolo"])
def target(
    request: pytest.FixtureRequest,
    aggregator_service: ServiceHandle,
    face_service: ServiceHandle,
    yolo_service: ServiceHandle,
) -> tuple[str, ServiceHandle]:
    services = {"aggregator": aggregator_service, "face": face_service, "yolo": yolo_service}
    return request.param, services[request.param]


@pytest.mark.parametrize(("case", "make_jpeg", "fields", "code", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_its_code_and_the_next_frame_is_served(
    target: tuple[str, ServiceHandle],
    case: str,
    make_jpeg: Callable[[], bytes],
    fields: dict,
    code: grpc.StatusCode,
    words: str,
) -> None:
    name, service = target
    if name != "aggregator" and "engines" in fields:
        fields = {"engines": ["sonar"]}
    counted_before = refused_count(service, code)
    with pytest.raises(grpc.RpcError) as error:
        detect(service.port, make_jpeg(), **fields)
    assert error.value.code() == code, error.value.details()
    assert words.lower() in (error.value.details() or "").lower()
    # Counted under its code, so a dashboard tells client mistakes from server faults; a message
    # over gRPC's size limit is refused by gRPC itself, before any servicer sees it.
    transport_refused = case == "over the byte limit"
    assert refused_count(service, code) == counted_before + (0 if transport_refused else 1)
    reply = detect(service.port, good())  # still serving
    assert reply.engines and all(e.ok for e in reply.engines)


def refused_count(service: ServiceHandle, code: grpc.StatusCode) -> float:
    labels = {"service": service.metrics.service, "method": "Detect", "code": code.name}
    return service.metrics.registry.get_sample_value("liquidedge_requests_total", labels) or 0.0


def test_one_pixel_image_is_answered_normally(aggregator_service: ServiceHandle) -> None:
    reply = detect(aggregator_service.port, encode_jpeg(np.zeros((1, 1, 3), np.uint8)))
    assert (reply.image_width, reply.image_height) == (1, 1)
    assert all(e.ok for e in reply.engines)


def test_a_detector_refuses_an_engine_it_does_not_run(face_service: ServiceHandle) -> None:
    with pytest.raises(grpc.RpcError) as error:
        detect(face_service.port, good(), engines=["yolo"])
    assert error.value.code() == INVALID and "not served here" in error.value.details()


def test_request_without_a_frame(aggregator_service: ServiceHandle) -> None:
    with (
        grpc.insecure_channel(f"127.0.0.1:{aggregator_service.port}") as channel,
        pytest.raises(grpc.RpcError) as error,
    ):
        detection_pb2_grpc.DetectorStub(channel).Detect(detection_pb2.DetectRequest(), timeout=5)
    assert error.value.code() == INVALID and "no frame" in error.value.details()


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({"user_id": 666, "wantface": 1}, grpc.StatusCode.NOT_FOUND, "user_id 666"),
        ({"user_id": 1}, INVALID, "wantface"),  # asks for no engine
        ({"user_id": 1, "wantface": 1, "max_results": -1}, INVALID, "max_results"),
    ],
)
def test_legacy_refusals(
    aggregator_service: ServiceHandle, fields: dict, code: grpc.StatusCode, words: str
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{aggregator_service.port}") as channel:
        stub = robot_pb2_grpc.ObjectDetectionStub(channel)
        frame = robot_pb2.VideoFrame(number=1, timestamp=5, img=good())
        with pytest.raises(grpc.RpcError) as error:
            stub.ObjectDetect(robot_pb2.ObjectDetectionRequest(frame=frame, **fields), timeout=10)
        assert error.value.code() == code and words in error.value.details()
        ok = stub.ObjectDetect(
            robot_pb2.ObjectDetectionRequest(user_id=1, frame=frame, wantface=1), timeout=10
        )
        assert ok.timestamp == 5


def test_a_bad_frame_ends_a_stream_with_its_code_and_a_new_stream_works(
    aggregator_service: ServiceHandle,
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{aggregator_service.port}") as channel:
        stub = detection_pb2_grpc.DetectorStub(channel)
        frames = [good(), b"garbage", good()]
        requests = (
            detection_pb2.DetectRequest(frame=detection_pb2.Frame(number=i, jpeg=j))
            for i, j in enumerate(frames)
        )
        answered = []
        with pytest.raises(grpc.RpcError) as error:
            for reply in stub.DetectStream(requests, timeout=20):
                answered.append(reply.frame_number)
        assert answered == [0] and error.value.code() == INVALID
        again = list(
            stub.DetectStream(iter([detection_pb2.DetectRequest(frame=detection_pb2.Frame(jpeg=good()))]))
        )
        assert [all(e.ok for e in reply.engines) for reply in again] == [True]
