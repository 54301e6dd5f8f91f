"""The lock-step client against a scripted detector on real gRPC: what it sends, what it records.

The scripted server answers each frame as a test tells it to (answer, refuse with a code, end
the stream, answer for another frame, or hold the frame until the client gives up), so every
outcome the client can report is produced by a real call, never assumed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import pytest

from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.lockstep import (
    ENDED,
    LOST,
    OK,
    OUT_OF_ORDER,
    Backoff,
    EngineOutcome,
    FrameOptions,
    LockstepClient,
    Pacer,
)
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from support.ports import free_port

JPEG = b"\xff\xd8 not decoded by the scripted server \xff\xd9"
ENGINES = {"face": (True, "OK", 4.0), "yolo": (True, "OK", 9.5)}


@dataclass
class Script:
    """How the server treats frame numbers; anything not named is answered whole."""

    refuse: dict[int, grpc.StatusCode] = field(default_factory=dict)
    hold: set[int] = field(default_factory=set)  # answered only once the client hangs up
    end_stream: set[int] = field(default_factory=set)  # the stream closes, no answer
    renumber: dict[int, int] = field(default_factory=dict)  # answered as another frame
    engines: dict[str, tuple[bool, str, float]] = field(default_factory=lambda: dict(ENGINES))


class ScriptedDetector(detection_pb2_grpc.DetectorServicer, robot_pb2_grpc.ObjectDetectionServicer):
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[detection_pb2.DetectRequest] = []
        self.legacy_requests: list[robot_pb2.ObjectDetectionRequest] = []
        self.streams = 0

    def _answer(self, request: detection_pb2.DetectRequest, context: grpc.ServicerContext):
        self.requests.append(request)
        number = request.frame.number
        if number in self.script.hold:
            hung_up = threading.Event()
            context.add_callback(hung_up.set)
            hung_up.wait(30)
            context.abort(grpc.StatusCode.CANCELLED, "held until the client hung up")
        if number in self.script.refuse:
            context.abort(self.script.refuse[number], f"frame {number} refused")
        return detection_pb2.DetectResponse(
            frame_number=self.script.renumber.get(number, number),
            capture_time_us=request.frame.capture_time_us,
            source_id=request.frame.source_id,
            engines=[
                detection_pb2.EngineStatus(
                    engine=name,
                    ok=ok,
                    code=code,
                    latency_ms=ms,
                    served_by=detection_pb2.ServedBy(hostname=f"{name}-host"),
                )
                for name, (ok, code, ms) in self.script.engines.items()
            ],
            served_by=detection_pb2.ServedBy(hostname="edge-1"),
        )

    def Detect(self, request, context):
        return self._answer(request, context)

    def DetectStream(self, request_iterator, context) -> Iterator[detection_pb2.DetectResponse]:
        self.streams += 1
        for request in request_iterator:
            if request.frame.number in self.script.end_stream:
                self.requests.append(request)
                return
            yield self._answer(request, context)

    def ObjectDetect(self, request, context):
        self.legacy_requests.append(request)
        return robot_pb2.ObjectDetectionResponse(
            number=request.frame.number, timestamp=request.frame.timestamp, name="edge-legacy"
        )


@pytest.fixture
def scripted() -> Iterator[tuple[ScriptedDetector, str]]:
    detector = ScriptedDetector(Script())
    server = grpc.server(futures.ThreadPoolExecutor(8))
    detection_pb2_grpc.add_DetectorServicer_to_server(detector, server)
    robot_pb2_grpc.add_ObjectDetectionServicer_to_server(detector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield detector, f"127.0.0.1:{port}"
    server.stop(0).wait()


def test_a_stream_carries_one_frame_at_a_time_with_the_options(
    scripted: tuple[ScriptedDetector, str],
) -> None:
    detector, address = scripted
    options = FrameOptions(
        source_id="cam-1",
        engines=("face",),
        deadline_ms=700,
        max_results=3,
        min_confidence=0.2,
        classes=("x",),
    )
    with LockstepClient.to(address, options=options) as client:
        outcomes = [client.send(JPEG) for _ in range(3)]
        assert client.streams_opened == 1
    assert [(o.number, o.code, o.stream) for o in outcomes] == [(1, OK, 1), (2, OK, 1), (3, OK, 1)]
    assert detector.streams == 1
    sent = detector.requests
    assert [r.frame.number for r in sent] == [1, 2, 3]
    assert {
        (r.frame.source_id, tuple(r.engines), r.deadline_ms, r.max_results, tuple(r.classes)) for r in sent
    } == {("cam-1", ("face",), 700, 3, ("x",))}
    assert all(r.min_confidence == pytest.approx(0.2) and r.frame.jpeg == JPEG for r in sent)
    for outcome, request in zip(outcomes, sent, strict=True):
        # The round trip runs from the capture time the server echoed back to the answer.
        assert request.frame.capture_time_us == round(outcome.sent_s * 1e6)
        assert outcome.rtt_s == pytest.approx(outcome.done_s - outcome.sent_s, abs=2e-6)
        assert outcome.rtt_s > 0
        assert outcome.engines == {
            name: EngineOutcome(code, ms, f"{name}-host") for name, (_, code, ms) in ENGINES.items()
        }
        assert (outcome.served_by, outcome.partial, outcome.reply.frame_number) == (
            "edge-1",
            (),
            outcome.number,
        )


def test_an_engine_failing_inside_an_answer_is_a_partial_answer(
    scripted: tuple[ScriptedDetector, str],
) -> None:
    detector, address = scripted
    detector.script.engines = {
        "face": (True, "OK", 3.0),
        "yolo": (False, "DEADLINE_EXCEEDED", 900.0),
        "x": (False, "", 1.0),
    }
    with LockstepClient.to(address) as client:
        outcome = client.send(JPEG, number=41, source_id="left-eye")
    assert (outcome.code, outcome.answered, outcome.number) == (OK, True, 41)
    assert outcome.partial == ("yolo:DEADLINE_EXCEEDED", "x:ERROR")
    assert outcome.engine_ok("face") and not outcome.engine_ok("yolo") and not outcome.engine_ok("absent")
    assert detector.requests[0].frame.source_id == "left-eye"


@pytest.mark.parametrize(
    ("script", "wait_s", "code"),
    [
        (Script(refuse={1: grpc.StatusCode.RESOURCE_EXHAUSTED}), None, "RESOURCE_EXHAUSTED"),  # shed
        (Script(refuse={1: grpc.StatusCode.INVALID_ARGUMENT}), None, "INVALID_ARGUMENT"),  # bad frame
        (Script(end_stream={1}), None, ENDED),  # the server closed the stream without answering
        (Script(renumber={1: 7}), None, OUT_OF_ORDER),  # the answer to another frame
        (Script(hold={1}), 0.3, LOST),  # no answer within the client's own wait
    ],
)
def test_a_failed_frame_is_recorded_and_the_next_goes_on_a_new_stream(
    scripted: tuple[ScriptedDetector, str], script: Script, wait_s: float | None, code: str
) -> None:
    detector, address = scripted
    detector.script = script
    with LockstepClient.to(address, wait_s=wait_s) as client:
        failed = client.send(JPEG)
        after = client.send(JPEG)
    assert (failed.number, failed.code, failed.answered, failed.stream) == (1, code, False, 1)
    assert failed.details and failed.engines == {} and failed.reply is None
    assert failed.rtt_s == pytest.approx(failed.done_s - failed.sent_s)
    if code == LOST:
        assert failed.rtt_s >= 0.3 and "0.3" in failed.details
    assert (after.number, after.code, after.stream) == (2, OK, 2)


@pytest.mark.parametrize("protocol", ["unary", "legacy"])
def test_unary_protocols_answer_frame_by_frame(scripted: tuple[ScriptedDetector, str], protocol: str) -> None:
    detector, address = scripted
    options = FrameOptions(source_id="cam-2", engines=("yolo",), max_results=5, user_id=3)
    with LockstepClient.to(address, protocol=protocol, options=options) as client:
        outcomes = [client.send(JPEG), client.send(JPEG)]
    assert [(o.number, o.code, o.stream) for o in outcomes] == [(1, OK, 0), (2, OK, 0)]
    assert detector.streams == 0
    if protocol == "legacy":
        sent = detector.legacy_requests
        assert [(r.user_id, r.wantface, r.wantyolo, r.max_results, r.frame.img) for r in sent] == [
            (3, 0, 1, 5, JPEG)
        ] * 2
        assert [r.frame.timestamp for r in sent] == [round(o.sent_s * 1e6) for o in outcomes]
        assert {o.served_by for o in outcomes} == {"edge-legacy"} and outcomes[0].engines == {}
    else:
        assert [(r.frame.source_id, tuple(r.engines)) for r in detector.requests] == [
            ("cam-2", ("yolo",))
        ] * 2
        assert {o.served_by for o in outcomes} == {"edge-1"}


def test_a_unary_call_gives_up_at_the_clients_wait(scripted: tuple[ScriptedDetector, str]) -> None:
    detector, address = scripted
    detector.script.hold = {1}
    with LockstepClient.to(address, protocol="unary", wait_s=0.3) as client:
        outcome = client.send(JPEG)
    assert outcome.code == "DEADLINE_EXCEEDED" and outcome.rtt_s >= 0.3


def test_nothing_listening_is_unavailable() -> None:
    with LockstepClient.to(f"127.0.0.1:{free_port()}") as client:
        outcome = client.send(JPEG)
    assert (outcome.code, outcome.answered) == ("UNAVAILABLE", False)


def test_an_unknown_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="protocol must be one of"):
        LockstepClient(grpc.insecure_channel("127.0.0.1:1"), protocol="carrier-pigeon")


class SteppedTime:
    """A clock and a stop event in one: waiting advances the clock instead of sleeping."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []
        self.stopped = False

    def clock(self) -> float:
        return self.now

    def wait(self, timeout: float) -> bool:
        self.waits.append(round(timeout, 6))
        self.now += timeout
        return self.stopped

    def is_set(self) -> bool:
        return self.stopped


def test_the_pacer_keeps_to_the_camera_rate_without_bursts() -> None:
    time = SteppedTime()
    camera = Pacer(10.0, clock=time.clock)
    assert camera.wait(time)  # the first frame goes at once
    assert camera.wait(time) and time.waits == [0.1]  # the next waits for the camera
    time.now += 0.55  # a slow answer: the robot fell behind its camera
    assert camera.wait(time) and time.waits == [0.1]  # at once, no catching up ...
    assert camera.wait(time) and time.waits == [0.1, 0.1]  # ... and the rate holds after it
    time.stopped = True
    assert not camera.wait(time)
    flat_out = Pacer(0.0, clock=time.clock)
    time.stopped = False
    assert flat_out.wait(time) and flat_out.wait(time) and time.waits == [0.1, 0.1, 0.1]


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.1, 0.5)
    assert [backoff.next_s() for _ in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    backoff.reset()
    assert backoff.next_s() == 0.1
    with pytest.raises(ValueError, match="first_s"):
        Backoff(1.0, 0.5)
