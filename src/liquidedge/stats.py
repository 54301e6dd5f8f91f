"""Latency percentiles and frame tallies, the same for every tool and client that reports them.

Percentiles interpolate linearly between samples (numpy's default), in milliseconds, and are
None without samples, so a report never shows a made-up number. `tally` sums up lock-step
outcomes: answered frames, failures by status code, partial answers, engine latencies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from liquidedge.lockstep import OK, Outcome

QUANTILES = (50, 95, 99)


def percentile_ms(samples_s: Sequence[float], q: float) -> float | None:
    """The q-th percentile of samples in seconds, in milliseconds; None without samples."""
    return percentiles_ms(samples_s, (q,))[f"p{q:g}"]


def percentiles_ms(
    samples_s: Sequence[float], quantiles: Sequence[float] = QUANTILES, digits: int | None = None
) -> dict[str, float | None]:
    """{"p50": ..., "p95": ..., "p99": ...} in milliseconds (rounded to `digits` when given)."""
    return _percentiles(np.asarray(samples_s, np.float64) * 1000.0, quantiles, digits)


def summary_ms(samples_s: Sequence[float], digits: int | None = 2) -> dict[str, float | None]:
    """The percentiles, the maximum and the mean, in milliseconds; all None without samples."""
    values = np.asarray(samples_s, np.float64) * 1000.0
    figures = _percentiles(values, QUANTILES, digits)
    figures["max"] = _round(float(values.max()), digits) if len(values) else None
    figures["mean"] = _round(float(values.mean()), digits) if len(values) else None
    return figures


def _percentiles(
    values: np.ndarray, quantiles: Sequence[float], digits: int | None
) -> dict[str, float | None]:
    found = np.percentile(values, list(quantiles)) if len(values) else [None] * len(quantiles)
    return {
        f"p{q:g}": None if v is None else _round(float(v), digits)
        for q, v in zip(quantiles, found, strict=True)
    }


def _round(value: float, digits: int | None) -> float:
    return value if digits is None else round(value, digits)


@dataclass(frozen=True)
class Tally:
    """What a set of lock-step outcomes adds up to. Counts only: no timing window is assumed."""

    sent: int = 0
    answered: int = 0
    failures_by_code: dict[str, int] = field(default_factory=dict)
    partial_answers: int = 0
    partial_engines: dict[str, int] = field(default_factory=dict)
    rtt_s: tuple[float, ...] = ()
    engine_latency_ms: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(self.failures_by_code.values())

    def rtt_ms(self, digits: int | None = 2, *, extremes: bool = False) -> dict[str, float | None]:
        """Round trips of answered frames (partial answers included): refusals are counted, not timed."""
        return summary_ms(self.rtt_s, digits) if extremes else percentiles_ms(self.rtt_s, QUANTILES, digits)

    def engine_percentiles_ms(self, digits: int | None = 3) -> dict[str, dict[str, float | None]]:
        """Per engine, the latency the server reported for it (already in milliseconds)."""
        return {
            name: _percentiles(np.asarray(values, np.float64), QUANTILES, digits)
            for name, values in sorted(self.engine_latency_ms.items())
        }


def tally(outcomes: Iterable[Outcome]) -> Tally:
    outcomes = list(outcomes)
    codes = Counter(o.code for o in outcomes)
    answered = [o for o in outcomes if o.code == OK]
    partial = Counter(engine for o in answered for engine in o.partial)
    latencies: dict[str, list[float]] = {}
    for outcome in answered:
        for name, engine in outcome.engines.items():
            if engine.code == OK:
                latencies.setdefault(name, []).append(engine.latency_ms)
    return Tally(
        sent=len(outcomes),
        answered=codes.pop(OK, 0),
        failures_by_code=dict(sorted(codes.items())),
        partial_answers=sum(1 for o in answered if o.partial),
        partial_engines=dict(sorted(partial.items())),
        rtt_s=tuple(o.rtt_s for o in answered),
        engine_latency_ms={name: tuple(values) for name, values in latencies.items()},
    )
