"""Simulated robots: each sends a frame, waits for its answer, then sends the next.

A robot's camera loop is lock-step (it tracks with the boxes of the last frame before it
captures the next), so offered load grows with the number of robots, not with a fixed rate,
and a refused frame (RESOURCE_EXHAUSTED) is simply dropped before the next one is sent.
Every frame sent is recorded exactly once with the status it ended with, so the totals
always balance: sent = answered + failed (+ in flight when the run was stopped).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import grpc

from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.v1 import detection_pb2, detection_pb2_grpc

log = logging.getLogger(__name__)

MODES = ("stream", "unary", "legacy")
# A v1 stream ends at its first refused frame; it is reopened at once, like the robot does.
_END = object()


@dataclass(frozen=True)
class FrameRecord:
    """One frame's fate. `partial` lists engines that failed inside an OK answer."""

    phase: int
    code: str
    latency_s: float
    finished_s: float
    partial: tuple[str, ...] = ()


@dataclass
class Recorder:
    """Thread-safe log of frames sent and how each ended."""

    started: float = field(default_factory=time.monotonic)
    records: list[FrameRecord] = field(default_factory=list)
    sent_by_phase: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sent(self, phase: int) -> None:
        with self._lock:
            self.sent_by_phase[phase] = self.sent_by_phase.get(phase, 0) + 1

    def add(self, record: FrameRecord) -> None:
        with self._lock:
            self.records.append(record)

    def now_s(self) -> float:
        return time.monotonic() - self.started

    def snapshot(self) -> tuple[dict[int, int], list[FrameRecord]]:
        with self._lock:
            return dict(self.sent_by_phase), list(self.records)


@dataclass
class PhaseBoard:
    """The phase the run is in; robots tag each frame with it when they send it."""

    current: int = -1


@dataclass(frozen=True)
class RobotSettings:
    mode: str
    deadline_ms: int
    frames: Sequence[bytes]
    # The camera's frame rate caps each robot: after a refused (shed) frame the robot waits for
    # the next captured frame instead of resending at once, as the real robot link does.
    # 0 sends flat out.
    fps: float = 30.0
    source_prefix: str = "soak"


def partial_engines(reply: detection_pb2.DetectResponse) -> tuple[str, ...]:
    return tuple(f"{e.engine}:{e.code or 'ERROR'}" for e in reply.engines if not e.ok)


class Robot(threading.Thread):
    """One simulated robot on its own channel, sending until `stop` is set."""

    def __init__(
        self, index: int, address: str, settings: RobotSettings, recorder: Recorder, board: PhaseBoard
    ) -> None:
        super().__init__(name=f"soak-robot-{index}", daemon=True)
        if settings.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {settings.mode!r}")
        self.index = index
        self.address = address
        self.settings = settings
        self.recorder = recorder
        self.board = board
        self.stop_event = threading.Event()
        self.error: str | None = None  # set when the robot itself broke (a tool bug, not a status)
        self._numbers = itertools.count(1)
        self._jpegs = itertools.cycle(settings.frames)
        self._next_capture = 0.0

    def _wait_for_camera(self) -> bool:
        """Sleep until the camera's next frame; False when the robot was stopped meanwhile."""
        if self.settings.fps > 0:
            now = time.monotonic()
            if self._next_capture > now and self.stop_event.wait(self._next_capture - now):
                return False
            self._next_capture = max(now, self._next_capture) + 1.0 / self.settings.fps
        return not self.stop_event.is_set()

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        with grpc.insecure_channel(self.address) as channel:
            loop: Callable[[grpc.Channel], None] = {
                "stream": self._stream_loop,
                "unary": self._unary_loop,
                "legacy": self._legacy_loop,
            }[self.settings.mode]
            try:
                loop(channel)
            except Exception as error:  # a robot must not die silently: the report shows it
                log.exception("robot %d stopped on an unexpected error", self.index)
                self.error = f"{type(error).__name__}: {error}"

    def _request(self) -> detection_pb2.DetectRequest:
        return detection_pb2.DetectRequest(
            frame=detection_pb2.Frame(
                number=next(self._numbers),
                capture_time_us=time.monotonic_ns() // 1000,
                jpeg=next(self._jpegs),
                source_id=f"{self.settings.source_prefix}-{self.index}",
            ),
            deadline_ms=self.settings.deadline_ms,
        )

    def _record(
        self, phase: int, code: grpc.StatusCode, started: float, partial: tuple[str, ...] = ()
    ) -> None:
        self.recorder.add(
            FrameRecord(phase, code.name, time.perf_counter() - started, self.recorder.now_s(), partial)
        )

    def _unary_loop(self, channel: grpc.Channel) -> None:
        stub = detection_pb2_grpc.DetectorStub(channel)
        timeout_s = self.settings.deadline_ms / 1000.0
        while self._wait_for_camera():
            request = self._request()
            phase = self.board.current
            self.recorder.sent(phase)
            started = time.perf_counter()
            try:
                reply = stub.Detect(request, timeout=timeout_s)
            except grpc.RpcError as error:
                self._record(phase, error.code(), started)
            else:
                self._record(phase, grpc.StatusCode.OK, started, partial_engines(reply))

    def _legacy_loop(self, channel: grpc.Channel) -> None:
        stub = robot_pb2_grpc.ObjectDetectionStub(channel)
        timeout_s = self.settings.deadline_ms / 1000.0
        while self._wait_for_camera():
            frame = self._request().frame
            request = robot_pb2.ObjectDetectionRequest(
                user_id=1,
                wantface=1,
                wantyolo=1,
                frame=robot_pb2.VideoFrame(
                    number=frame.number & 0x7FFFFFFF, timestamp=frame.capture_time_us, img=frame.jpeg
                ),
            )
            phase = self.board.current
            self.recorder.sent(phase)
            started = time.perf_counter()
            try:
                stub.ObjectDetect(request, timeout=timeout_s)
            except grpc.RpcError as error:
                self._record(phase, error.code(), started)
            else:
                self._record(phase, grpc.StatusCode.OK, started)

    def _stream_loop(self, channel: grpc.Channel) -> None:
        stub = detection_pb2_grpc.DetectorStub(channel)
        while not self.stop_event.is_set():
            self._one_stream(stub)

    def _one_stream(self, stub: detection_pb2_grpc.DetectorStub) -> None:
        """Frames on one stream until it ends (a refused frame ends a v1 stream) or we stop."""
        outbox: queue.Queue[object] = queue.Queue()

        def requests() -> Iterator[detection_pb2.DetectRequest]:
            while (item := outbox.get()) is not _END:
                yield item  # type: ignore[misc]

        # The per-frame budget travels in deadline_ms; the call itself only needs to outlive the run.
        replies = stub.DetectStream(requests(), timeout=24 * 3600.0)
        try:
            while self._wait_for_camera():
                phase = self.board.current
                self.recorder.sent(phase)
                started = time.perf_counter()
                outbox.put(self._request())
                try:
                    reply = next(replies)
                except grpc.RpcError as error:
                    self._record(phase, error.code(), started)
                    return
                except StopIteration:  # the server closed the stream without answering
                    self._record(phase, grpc.StatusCode.UNAVAILABLE, started)
                    return
                self._record(phase, grpc.StatusCode.OK, started, partial_engines(reply))
        finally:
            outbox.put(_END)
            replies.cancel()
