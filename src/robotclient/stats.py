"""Counters and latency samples of a link; their percentiles are the runtime's (`liquidedge.stats`),
the same every tool and report prints."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field

from liquidedge.stats import percentiles_ms


@dataclass
class LinkStats:
    """Thread-safe counts. sent = answered + failed + (at most one) in flight."""

    submitted: int = 0
    dropped: int = 0
    sent: int = 0
    answered: int = 0
    failed: int = 0
    outages: int = 0
    failures_by_code: dict[str, int] = field(default_factory=dict)
    rtt_s: list[float] = field(default_factory=list)
    engine_latency_ms: dict[str, list[float]] = field(default_factory=dict)
    engine_errors: dict[str, int] = field(default_factory=dict)
    max_samples: int = 1_000_000
    _answer_times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=256))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record_answer(self, rtt_s: float, now_s: float, engines: dict[str, tuple[bool, float]]) -> None:
        with self._lock:
            self.answered += 1
            if len(self.rtt_s) < self.max_samples:
                self.rtt_s.append(rtt_s)
            self._answer_times.append(now_s)
            for name, (ok, latency_ms) in engines.items():
                if ok:
                    self.engine_latency_ms.setdefault(name, []).append(latency_ms)
                else:
                    self.engine_errors[name] = self.engine_errors.get(name, 0) + 1

    def record_failure(self, code: str) -> None:
        with self._lock:
            self.failed += 1
            self.failures_by_code[code] = self.failures_by_code.get(code, 0) + 1

    def bump(self, name: str, by: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + by)

    def fps(self, now_s: float, window_s: float = 2.0) -> float:
        """Answers per second over the last `window_s` seconds (processing rate, not camera rate)."""
        with self._lock:
            recent = [t for t in self._answer_times if now_s - t <= window_s]
        if len(recent) < 2:
            return 0.0
        span = max(recent[-1] - recent[0], 1e-9)
        return (len(recent) - 1) / span

    def last_rtt_s(self) -> float | None:
        with self._lock:
            return self.rtt_s[-1] if self.rtt_s else None

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            rtts = list(self.rtt_s)
            engines = {k: list(v) for k, v in self.engine_latency_ms.items()}
            counts = {
                "submitted": self.submitted,
                "dropped": self.dropped,
                "sent": self.sent,
                "answered": self.answered,
                "failed": self.failed,
                "outages": self.outages,
                "failures_by_code": dict(self.failures_by_code),
                "engine_errors": dict(self.engine_errors),
            }
        counts["rtt_ms"] = percentiles_ms(rtts)
        counts["engine_latency_ms"] = {
            name: percentiles_ms([v / 1000.0 for v in values]) for name, values in sorted(engines.items())
        }
        return counts
