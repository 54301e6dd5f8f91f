"""Property: hostile requests over real gRPC get a documented status, never UNKNOWN, never a hang.

Every request goes to a real server (the session services of tests/conftest.py) over a real
channel with a per-call timeout. Documented answers: OK, INVALID_ARGUMENT (bad image or
field), RESOURCE_EXHAUSTED (oversize frame, shedding), NOT_FOUND (unknown legacy user_id),
DEADLINE_EXCEEDED (only for a request that set deadline_ms). UNAVAILABLE is documented only
when every engine failed, and the engines here are healthy. After each property has run, the
service still answers a good frame and says SERVING.
"""

from __future__ import annotations

import grpc
import pytest
from fuzz_support import (
    UNPARSABLE_DETAILS,
    FuzzTally,
    Outcome,
    call,
    call_stream,
    fuzz_settings,
    judge,
)
from hypothesis import given
from hypothesis import strategies as st
from jpeg_strategies import real_jpegs
from message_strategies import (
    object_detection_requests,
    raw_bodies,
    single_engine_requests,
    v1_requests,
)

from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from support.calls import SERVING, detect, health_status

OK = grpc.StatusCode.OK
DETECTOR_CODES = frozenset({OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED})
LEGACY_AGGREGATOR_CODES = DETECTOR_CODES | {grpc.StatusCode.NOT_FOUND}
ENGINES = {"aggregator": ("face", "yolo"), "face": ("face",), "yolo": ("yolo",)}
V1_DETECT = "/liquidedge.v1.Detector/Detect"


def verdict(
    tally: FuzzTally, target: str, outcome: Outcome, allowed: frozenset, *, deadline_set: bool
) -> None:
    """Count the outcome and fail the example on anything undocumented."""
    problem = judge(outcome, allowed, deadline_set=deadline_set)
    tally.add(f"{target}-{outcome.code.name}", problem)
    assert problem is None, f"{problem}: {target} answered {outcome.code.name}: {outcome.details}"


def assert_still_serving(channel: grpc.Channel, engines: tuple[str, ...]) -> None:
    assert health_status(channel, timeout_s=10) == SERVING
    reply = detect(channel, real_jpegs()[0], number=7)
    assert reply.frame_number == 7
    assert sorted(e.engine for e in reply.engines if e.ok) == sorted(engines)


def check_v1_reply(request: detection_pb2.DetectRequest, reply: detection_pb2.DetectResponse) -> None:
    assert reply.frame_number == request.frame.number
    assert reply.capture_time_us == request.frame.capture_time_us
    assert reply.source_id == request.frame.source_id
    if request.max_results > 0:
        assert len(reply.detections) <= request.max_results
    assert all(d.confidence >= request.min_confidence for d in reply.detections)


@pytest.mark.parametrize(("target", "examples"), [("aggregator", 300), ("face", 250), ("yolo", 250)])
def test_v1_detect(target: str, examples: int, channels: dict[str, grpc.Channel], tally: FuzzTally) -> None:
    stub = detection_pb2_grpc.DetectorStub(channels[target])

    @fuzz_settings(examples)
    @given(request=v1_requests(ENGINES[target]))
    def run(request: detection_pb2.DetectRequest) -> None:
        outcome = call(stub.Detect, request)
        verdict(tally, target, outcome, DETECTOR_CODES, deadline_set=request.deadline_ms > 0)
        if outcome.code == OK:
            check_v1_reply(request, outcome.reply)

    run()
    assert_still_serving(channels[target], ENGINES[target])


@pytest.mark.parametrize("target", ["aggregator", "face", "yolo"])
def test_v1_detect_stream(target: str, channels: dict[str, grpc.Channel], tally: FuzzTally) -> None:
    """A stream answers in order until its first bad frame, which ends it with that frame's code."""
    stub = detection_pb2_grpc.DetectorStub(channels[target])

    @fuzz_settings(40)
    @given(requests=st.lists(v1_requests(ENGINES[target]), min_size=1, max_size=4))
    def run(requests: list[detection_pb2.DetectRequest]) -> None:
        outcome = call_stream(stub.DetectStream, requests)
        replies = outcome.reply or []
        deadline_set = any(r.deadline_ms > 0 for r in requests)
        verdict(tally, f"{target}-stream", outcome, DETECTOR_CODES, deadline_set=deadline_set)
        assert len(replies) <= len(requests)
        if outcome.code == OK:
            assert len(replies) == len(requests)
        for request, reply in zip(requests, replies, strict=False):
            check_v1_reply(request, reply)

    run()
    assert_still_serving(channels[target], ENGINES[target])


def test_legacy_object_detect(channels: dict[str, grpc.Channel], tally: FuzzTally) -> None:
    stub = robot_pb2_grpc.ObjectDetectionStub(channels["aggregator"])

    @fuzz_settings(300)
    @given(request=object_detection_requests())
    def run(request: robot_pb2.ObjectDetectionRequest) -> None:
        outcome = call(stub.ObjectDetect, request)
        verdict(tally, "legacy-aggregator", outcome, LEGACY_AGGREGATOR_CODES, deadline_set=False)
        if outcome.code == OK:
            assert outcome.reply.timestamp == request.frame.timestamp
            assert outcome.reply.number == request.frame.number
            if request.max_results > 0:
                assert len(outcome.reply.objects) <= request.max_results

    run()
    assert_still_serving(channels["aggregator"], ENGINES["aggregator"])


@pytest.mark.parametrize(
    ("target", "message", "method"),
    [
        ("face", robot_pb2.FaceDetectionRequest, "FaceDetection/FaceDetect"),
        ("yolo", robot_pb2.YoloDetectionRequest, "YoloDetection/YoloDetect"),
    ],
)
def test_legacy_detectors(
    target: str, message: type, method: str, channels: dict[str, grpc.Channel], tally: FuzzTally
) -> None:
    response = robot_pb2.FaceDetectionResponse if target == "face" else robot_pb2.YoloDetectionResponse
    detect = channels[target].unary_unary(
        f"/{method}",
        request_serializer=message.SerializeToString,
        response_deserializer=response.FromString,
    )

    @fuzz_settings(150)
    @given(request=single_engine_requests(message))
    def run(request: object) -> None:
        outcome = call(detect, request)
        verdict(tally, f"legacy-{target}", outcome, DETECTOR_CODES, deadline_set=False)
        if outcome.code == OK:
            assert outcome.reply.timestamp == request.frame.timestamp

    run()
    assert_still_serving(channels[target], ENGINES[target])


RAW_TARGETS = [
    # (service, method path, request type, the codes its parsed requests may get)
    (
        "aggregator",
        "/ObjectDetection/ObjectDetect",
        robot_pb2.ObjectDetectionRequest,
        LEGACY_AGGREGATOR_CODES,
    ),
    ("aggregator", V1_DETECT, detection_pb2.DetectRequest, DETECTOR_CODES),
    ("face", V1_DETECT, detection_pb2.DetectRequest, DETECTOR_CODES),
    ("face", "/FaceDetection/FaceDetect", robot_pb2.FaceDetectionRequest, DETECTOR_CODES),
    ("yolo", "/YoloDetection/YoloDetect", robot_pb2.YoloDetectionRequest, DETECTOR_CODES),
]


def valid_for(message: type) -> st.SearchStrategy:
    if message is robot_pb2.ObjectDetectionRequest:
        return object_detection_requests()
    if message is detection_pb2.DetectRequest:
        return v1_requests()
    return single_engine_requests(message)


@pytest.mark.parametrize(
    ("target", "path", "message", "allowed"), RAW_TARGETS, ids=[f"{t}{p}" for t, p, *_ in RAW_TARGETS]
)
def test_raw_request_bodies(
    target: str,
    path: str,
    message: type,
    allowed: frozenset,
    channels: dict[str, grpc.Channel],
    tally: FuzzTally,
) -> None:
    """Unparsable bodies are refused with INVALID_ARGUMENT naming the method (liquidedge.wire, before
    any servicer runs; left alone grpcio would say INTERNAL, or UNKNOWN on the asyncio server);
    parsable ones are judged as messages."""
    send = channels[target].unary_unary(path)  # bytes in, bytes out: no serializer on our side

    @fuzz_settings(150)
    @given(body=raw_bodies(valid_for(message)))
    def run(body: bytes) -> None:
        outcome = call(send, body)
        try:
            parsed = message.FromString(body)
        except Exception:  # protobuf's DecodeError: grpc's deserializer fails the same way
            problem = None
            if outcome.code == grpc.StatusCode.UNKNOWN:
                problem = "unknown"
            elif (
                outcome.code != grpc.StatusCode.INVALID_ARGUMENT or UNPARSABLE_DETAILS not in outcome.details
            ):
                problem = "crash"
            tally.add(f"{target}-raw-{outcome.code.name}", problem)
            assert problem is None, f"unparsable body got {outcome.code.name}: {outcome.details}"
            return
        deadline_set = getattr(parsed, "deadline_ms", 0) > 0
        verdict(tally, f"{target}-raw", outcome, allowed, deadline_set=deadline_set)

    run()
    assert_still_serving(channels[target], ENGINES[target])
