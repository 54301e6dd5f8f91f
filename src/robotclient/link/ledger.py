"""The link's books, shared by both protocols: each frame's outcome, the serving edge, outages.

The link's worker writes them while the robot's loop, the status line and lock-step callers
(`wait_outcome`) read them from their own threads, so every field is behind one lock; log
lines are composed under it and written after.
"""

from __future__ import annotations

import logging
import threading

import grpc

from robotclient.clock import Clock
from robotclient.link.values import Answer, Failure
from robotclient.stats import LinkStats

log = logging.getLogger(__name__)

# Codes that condemn one frame (too big, undecodable), not the mesh: no back-off, no outage.
FRAME_CODES = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT})
# Codes of a frame that took too long; enough of them in a row mean a hung mesh.
LATE_CODES = frozenset({grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED})
KEEP_OUTCOMES = 64  # a lock-step caller asks for its frame at once; older outcomes are dropped


class LinkLedger:
    def __init__(self, address: str, clock: Clock, outage_after_timeouts: int = 2) -> None:
        self.address = address
        self.clock = clock
        self.outage_after_timeouts = outage_after_timeouts
        self.stats = LinkStats()
        self._cond = threading.Condition()
        self._outcomes: dict[int, Answer | Failure] = {}
        self._timeouts_in_row = 0
        self._outage_since_s: float | None = None
        self._served_by_host = ""

    @property
    def in_outage(self) -> bool:
        with self._cond:
            return self._outage_since_s is not None

    @property
    def served_by_host(self) -> str:
        with self._cond:
            return self._served_by_host

    def sent(self) -> None:
        self.stats.bump("sent")

    def answered(self, answer: Answer) -> None:
        """Book an answer; it ends an outage and may name a new serving edge."""
        with self._cond:
            self._timeouts_in_row = 0
            outage_since, self._outage_since_s = self._outage_since_s, None
            new_host = answer.served_by_host != self._served_by_host
            self._served_by_host = answer.served_by_host
            self.stats.record_answer(answer.rtt_s, answer.received_s, answer.engines)
            self._settle(answer.frame_number, answer)
        if outage_since is not None:
            lasted = answer.received_s - outage_since
            log.info("mesh is back after %.1f s, served by %s", lasted, answer.served_by_host)
        if new_host:
            log.info("now served by %s (%s)", answer.served_by_host, answer.served_by_address)

    def failed(self, frame_number: int | None, code: grpc.StatusCode, details: str) -> bool:
        """Book a failed call (and its frame, if one was in flight). True: the mesh looks down, back off."""
        with self._cond:
            if frame_number is not None:
                self.stats.record_failure(code.name)
                self._settle(frame_number, Failure(frame_number, code.name, details))
            if code in FRAME_CODES:
                down = False
            elif code in LATE_CODES:
                self._timeouts_in_row += 1
                down = self._timeouts_in_row >= self.outage_after_timeouts
            else:
                down = True
            began = down and self._outage_since_s is None
            if began:
                self._outage_since_s = self.clock.now()
                self.stats.bump("outages")
        if code in FRAME_CODES:
            log.warning("mesh refused frame %s: %s %s", frame_number, code.name, details)
        if began:
            log.warning("mesh at %s unreachable (%s: %s); retrying", self.address, code.name, details)
        return down

    def wait_outcome(self, frame_number: int, timeout_s: float) -> Answer | Failure | None:
        """Block until frame `frame_number` is answered or failed (None on timeout or drop)."""
        with self._cond:
            self._cond.wait_for(lambda: frame_number in self._outcomes, timeout_s)
            return self._outcomes.pop(frame_number, None)

    def _settle(self, frame_number: int, outcome: Answer | Failure) -> None:
        self._outcomes[frame_number] = outcome
        while len(self._outcomes) > KEEP_OUTCOMES:
            self._outcomes.pop(next(iter(self._outcomes)))
        self._cond.notify_all()
