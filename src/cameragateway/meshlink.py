"""Each camera's own v1 `DetectStream` to the aggregator, as a robot streams.

One stream per camera, each fed from that camera's one-slot mailbox, at most `max_fps`
frames a second, one frame in flight: a slow or hostile camera occupies its own stream and
nothing else, the newest frame is always the next one sent, and nothing queues. Before it
takes a frame, a camera waits for a slot at the shared `FairGate` (fair order, a limit the
gate adapts to what the mesh answers in time), so a saturated mesh is never handed more work
than it can finish within the deadline. Each frame carries a deadline; a late answer cuts the
stream (the frame is booked as DEADLINE_EXCEEDED) and a new one opens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
from google.protobuf.json_format import MessageToDict

from cameragateway.camera import Answer, Camera, Frame
from cameragateway.gate import FairGate
from liquidedge.messages import detections_from_proto
from liquidedge.v1 import detection_pb2, detection_pb2_grpc

log = logging.getLogger(__name__)

# Codes that condemn one frame (the camera sent something the mesh refuses), not the mesh.
FRAME_CODES = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT})


@dataclass(frozen=True)
class LinkSettings:
    max_fps: float = 5.0
    deadline_s: float = 2.0
    engines: tuple[str, ...] = ()
    min_confidence: float = 0.0
    max_results: int = 0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0

    def __post_init__(self) -> None:
        if self.max_fps <= 0:
            raise ValueError(f"max_fps must be positive, got {self.max_fps}")
        if self.deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive, got {self.deadline_s}")


def answer_from_response(
    frame: Frame, response: detection_pb2.DetectResponse, rtt_s: float, now_s: float
) -> Answer:
    """The parts of a v1 answer the gateway keeps, in plain Python values."""
    engines = [
        MessageToDict(status, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        for status in response.engines
    ]
    return Answer(
        frame=frame,
        detections=detections_from_proto(response.detections),
        rtt_s=rtt_s,
        answered_time_s=now_s,
        engines=engines,
        served_by={"hostname": response.served_by.hostname, "address": response.served_by.address},
        image_wh=(response.image_width, response.image_height),
    )


class _DeadlineMissed(Exception):
    pass


class CameraLink:
    """Streams `camera`'s newest frames to the mesh on its own thread; `on_answer` gets every answer."""

    def __init__(
        self,
        channel: grpc.Channel,
        camera: Camera,
        settings: LinkSettings,
        on_answer: Callable[[Camera, Answer], None],
        *,
        gate: FairGate | None = None,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.camera = camera
        self.settings = settings
        self.on_answer = on_answer
        self.gate = gate or FairGate(1, adaptive=False)
        self._flight_lock = threading.Lock()
        self._stub = detection_pb2_grpc.DetectorStub(channel)
        self._metadata = metadata
        self._stop = threading.Event()
        self._call: grpc.Future | None = None
        self._in_flight: tuple[Frame, float] | None = None
        self._next_send = 0.0
        self._deadline_missed = False
        self._thread = threading.Thread(target=self._run, name=f"mesh-{camera.id}", daemon=True)

    def start(self) -> CameraLink:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self.camera.mailbox.close()
        call = self._call
        if call is not None:
            call.cancel()
        self._thread.join(timeout_s)
        self._land("other")
        self.gate.leave(self.camera.id)

    # -- worker -------------------------------------------------------------------------------

    def _run(self) -> None:
        s = self.settings
        backoff = s.backoff_initial_s
        while not self._stop.is_set():
            try:
                self._stream()
                backoff = s.backoff_initial_s
            except _DeadlineMissed:
                self._fail("DEADLINE_EXCEEDED", f"no answer within {s.deadline_s:g}s")
            except grpc.RpcError as error:
                if self._stop.is_set():
                    break
                code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
                details = error.details() if hasattr(error, "details") else str(error)
                self._fail(code.name, details or "")
                if code not in FRAME_CODES:
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2.0, s.backoff_max_s)
            finally:
                self._call = None

    def _land(self, outcome: str) -> tuple[Frame, float] | None:
        """The frame in flight (if any) is done: give its gate slot back with `outcome`."""
        with self._flight_lock:
            in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            self.gate.release(outcome)
        return in_flight

    def _fail(self, code: str, details: str) -> None:
        """Book the frame in flight (if any) as failed; a stream error with none is the mesh's."""
        in_flight = self._land("late" if code == "DEADLINE_EXCEEDED" else "other")
        self.camera.mesh_failed(code, details, frame_lost=in_flight is not None)
        log.debug("camera %s: mesh %s %s", self.camera.id, code, details)

    def _stream(self) -> None:
        answered = threading.Event()
        finished = threading.Event()
        self._deadline_missed = False
        call = self._stub.DetectStream(self._requests(answered, finished), metadata=self._metadata)
        self._call = call
        try:
            for response in call:
                sent = self._land("ok")
                if sent is not None and response.frame_number == sent[0].number:
                    now = time.monotonic()
                    answer = answer_from_response(sent[0], response, now - sent[1], time.time())
                    self.camera.answered(answer)
                    self.on_answer(self.camera, answer)
                answered.set()
        except grpc.RpcError as error:
            if self._deadline_missed and error.code() is grpc.StatusCode.CANCELLED:
                raise _DeadlineMissed() from error
            raise
        finally:
            finished.set()

    def _next_frame(self) -> Frame | None:
        """The newest frame, once the rate limit allows one and the gate gives a slot; else None.

        On a frame the slot is held (until `_land`); the frame is taken only after the slot is
        granted, so waiting at the gate never sends an older frame.
        """
        wait_s = self._next_send - time.monotonic()
        if wait_s > 0:
            self._stop.wait(min(wait_s, 0.2))
            return None
        mailbox = self.camera.mailbox
        if not mailbox.wait(0.2) or not self.gate.acquire(self.camera.id, 0.2):
            return None
        frame = mailbox.take(0.0)
        if frame is not None and time.monotonic() - frame.received_mono > self.settings.deadline_s:
            self.camera.stale()  # waited out its deadline before it could be sent
            frame = None
        if frame is None:
            self.gate.release("other")
        return frame

    def _requests(
        self, answered: threading.Event, finished: threading.Event
    ) -> Iterator[detection_pb2.DetectRequest]:
        s = self.settings
        while not self._stop.is_set() and not finished.is_set():
            frame = self._next_frame()
            if frame is None:
                continue
            if finished.is_set() or self._stop.is_set():
                # gRPC may ask a dead stream's iterator for one more; the next stream sends it.
                self.camera.mailbox.put_back(frame)
                self.gate.release("other")
                return
            answered.clear()
            now = time.monotonic()
            self._next_send = now + 1.0 / s.max_fps
            with self._flight_lock:
                self._in_flight = (frame, now)
            self.camera.sent()
            yield detection_pb2.DetectRequest(
                frame=detection_pb2.Frame(
                    number=frame.number,
                    capture_time_us=round(frame.capture_time_s * 1e6),
                    jpeg=frame.jpeg,
                    source_id=self.camera.id,
                ),
                engines=list(s.engines),
                max_results=s.max_results,
                min_confidence=s.min_confidence,
                deadline_ms=max(1, round(s.deadline_s * 1000)),
            )
            if not answered.wait(s.deadline_s) and not self._stop.is_set() and not finished.is_set():
                self._deadline_missed = True
                call = self._call
                if call is not None:
                    call.cancel()
                return
