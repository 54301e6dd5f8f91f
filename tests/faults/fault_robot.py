"""A robot as the mesh sees one: the runtime's lock-step client on a v1 stream, one frame at a time.

The next frame goes out only after the answer to the last (or after giving up on it), so at
most one frame is ever in flight: that is what "lost at most the frames in flight" is measured
against. Like a robot it gives a frame `deadline_s` (sent as the per-frame `deadline_ms`) plus a
little grace for the network, then counts it lost (`LOST`) and reopens the stream; after a
failure it waits a capped exponential backoff. Every frame's `Outcome` is kept, with its times.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from liquidedge.lockstep import Backoff, FrameOptions, LockstepClient, Outcome, Pacer

BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 0.5


class LockstepRobot:
    """Streams one JPEG over and over from a background thread until stopped or a bound is hit."""

    def __init__(
        self,
        address: str,
        jpeg: bytes,
        *,
        deadline_s: float = 1.5,
        grace_s: float = 0.5,
        period_s: float = 0.1,
        max_frames: int = 2000,
        max_s: float = 90.0,
    ) -> None:
        self.address = address
        self.jpeg = jpeg
        self.deadline_s = deadline_s
        self.grace_s = grace_s
        self.period_s = period_s
        self.max_frames = max_frames
        self.max_s = max_s
        self._results: list[Outcome] = []
        self._recorded = threading.Condition()
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._run, name="robot", daemon=True)

    @property
    def results(self) -> list[Outcome]:
        with self._recorded:
            return list(self._results)

    def start(self) -> LockstepRobot:
        self._thread.start()
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        self._thread.join(timeout=self.deadline_s + self.grace_s + 5.0)
        return self.results

    def __enter__(self) -> LockstepRobot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(
        self, count: int, predicate: Callable[[Outcome], bool] | None = None, timeout_s: float = 30.0
    ) -> list[Outcome]:
        """Block until `count` frames (matching `predicate`, if given) are recorded, or time runs out.

        Woken by each recorded frame (no polling); gives up early if the robot stopped.
        """

        def matching() -> list[Outcome]:
            return [r for r in self._results if predicate is None or predicate(r)]

        with self._recorded:
            done = self._recorded.wait_for(lambda: len(matching()) >= count or self._finished, timeout_s)
            found = matching()
        if not done or len(found) < count:
            raise TimeoutError(f"robot: fewer than {count} matching frames within {timeout_s:.0f}s")
        return found

    def _run(self) -> None:
        options = FrameOptions(source_id="fault-robot", deadline_ms=int(self.deadline_s * 1000))
        client = LockstepClient.to(self.address, options=options, wait_s=self.deadline_s + self.grace_s)
        pacer = Pacer(1.0 / self.period_s if self.period_s > 0 else 0.0)
        backoff = Backoff(BACKOFF_FIRST_S, BACKOFF_MAX_S)
        end_s = time.monotonic() + self.max_s
        try:
            for number in range(1, self.max_frames + 1):
                if time.monotonic() > end_s or not pacer.wait(self._stop):
                    break
                result = client.send(self.jpeg, number)
                with self._recorded:
                    self._results.append(result)
                    self._recorded.notify_all()
                if result.answered:
                    backoff.reset()
                elif self._stop.wait(backoff.next_s()):
                    break  # a broken or silent stream was hung up: a pause, then a new one
        finally:
            client.close()
            with self._recorded:
                self._finished = True
                self._recorded.notify_all()


def max_gap_s(results: list[Outcome], good: Callable[[Outcome], bool], start_s: float, end_s: float) -> float:
    """Longest wait between consecutive `good` answers across a fault at `start_s`, up to `end_s`.

    Starts from the last good answer before the fault, so the spell the robot went blind is
    counted whole; with no good answer after the fault, the gap runs to `end_s`.
    """
    times = sorted(r.done_s for r in results if good(r) and r.done_s <= end_s)
    before = [t for t in times if t <= start_s][-1:] or [start_s]
    after = [t for t in times if t > start_s] or [end_s]
    marks = [*before, *after]
    return max(b - a for a, b in itertools.pairwise(marks))
