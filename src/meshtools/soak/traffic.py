"""Simulated robots: each sends a frame, waits for its answer, then sends the next.

A robot's camera loop is lock-step (it tracks with the boxes of the last frame before it
captures the next), so offered load grows with the number of robots, not with a fixed rate,
and a refused frame (RESOURCE_EXHAUSTED) is simply dropped before the next one is sent. Each
robot is the runtime's lock-step client (`liquidedge.lockstep`) paced like a camera. Every
frame sent is recorded exactly once with the outcome it ended with, so the totals always
balance: sent = answered + failed (+ in flight when the run was stopped).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from liquidedge.lockstep import PROTOCOLS, FrameOptions, LockstepClient, Outcome, Pacer

log = logging.getLogger(__name__)

# stream: v1 DetectStream (a refused frame ends the stream; it is reopened at once, like the
# robot does); unary: v1 Detect; legacy: ObjectDetect.
MODES = PROTOCOLS


@dataclass
class Recorder:
    """Thread-safe log of frames sent and how each ended, by the phase it was sent in."""

    started: float = field(default_factory=time.monotonic)
    records: list[tuple[int, Outcome]] = field(default_factory=list)
    sent_by_phase: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sent(self, phase: int) -> None:
        with self._lock:
            self.sent_by_phase[phase] = self.sent_by_phase.get(phase, 0) + 1

    def add(self, phase: int, outcome: Outcome) -> None:
        with self._lock:
            self.records.append((phase, outcome))

    def now_s(self) -> float:
        return time.monotonic() - self.started

    def snapshot(self) -> tuple[dict[int, int], list[tuple[int, Outcome]]]:
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

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        s = self.settings
        options = FrameOptions(source_id=f"{s.source_prefix}-{self.index}", deadline_ms=s.deadline_ms)
        # Unary calls carry the frame's deadline as the call's; a stream only needs to outlive
        # the run, the server ends a late frame with DEADLINE_EXCEEDED.
        wait_s = None if s.mode == "stream" else s.deadline_ms / 1000.0
        camera = Pacer(s.fps)
        jpegs = itertools.cycle(s.frames)
        try:
            with LockstepClient.to(self.address, protocol=s.mode, options=options, wait_s=wait_s) as client:
                while camera.wait(self.stop_event):
                    phase = self.board.current
                    self.recorder.sent(phase)
                    self.recorder.add(phase, client.send(next(jpegs)))
        except Exception as error:  # a robot must not die silently: the report shows it
            log.exception("robot %d stopped on an unexpected error", self.index)
            self.error = f"{type(error).__name__}: {error}"
