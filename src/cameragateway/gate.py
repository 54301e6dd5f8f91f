"""A fair, self-adjusting limit on the frames the gateway has in the mesh at once.

Every camera has its own stream, but the mesh has a finite capacity. Sending every camera's
frame at once when the mesh is saturated makes each one wait behind the others until they
all miss their deadlines together, and nobody gets an answer (we measured exactly that: five
cameras on a two-core mesh, zero answers). So a camera asks the gate for a slot before it
takes its newest frame:

* fairness: slots go to waiting cameras in the order they asked (round-robin in effect,
  since each camera has at most one frame out), so one camera cannot starve another;
* freshness: the frame is taken from the camera's mailbox after the slot is granted, so
  queueing for a slot never makes the frame older;
* adaptation: the limit grows by one slot per limit's worth of answers in time and halves on
  a missed deadline (additive increase, multiplicative decrease, as TCP does), between 1 and
  `max_in_flight`; so the gateway finds what the mesh can answer within the deadline.
"""

from __future__ import annotations

import threading


class FairGate:
    def __init__(self, max_in_flight: int, *, adaptive: bool = True) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.max_in_flight = max_in_flight
        self.adaptive = adaptive
        self._limit = float(max_in_flight)
        self._in_flight = 0
        self._queue: list[str] = []  # cameras in the order they asked
        self._waiting: set[str] = set()  # those inside `acquire` right now
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        return int(self._limit)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _turn(self, key: str) -> bool:
        if self._in_flight >= int(self._limit):
            return False
        first = next((k for k in self._queue if k in self._waiting), None)
        return first == key

    def acquire(self, key: str, timeout_s: float) -> bool:
        """Wait for `key`'s turn and a free slot. On timeout `key` keeps its place in line."""
        with self._cond:
            if key not in self._queue:
                self._queue.append(key)
            self._waiting.add(key)
            try:
                granted = self._cond.wait_for(lambda: self._turn(key), timeout_s)
                if granted:
                    self._queue.remove(key)
                    self._in_flight += 1
                return granted
            finally:
                self._waiting.discard(key)
                self._cond.notify_all()

    def release(self, outcome: str) -> None:
        """Give a slot back. `outcome`: "ok" (answered in time), "late" (deadline missed), "other"."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            if self.adaptive and outcome == "ok":
                self._limit = min(float(self.max_in_flight), self._limit + 1.0 / self._limit)
            elif self.adaptive and outcome == "late":
                self._limit = max(1.0, self._limit / 2.0)
            self._cond.notify_all()

    def leave(self, key: str) -> None:
        """`key` stops asking (its camera went away): it must not hold up the line."""
        with self._cond:
            if key in self._queue:
                self._queue.remove(key)
            self._cond.notify_all()

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "limit": int(self._limit),
                "max": self.max_in_flight,
                "in_flight": self._in_flight,
                "waiting": len(self._waiting),
            }
