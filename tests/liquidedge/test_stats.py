"""The percentiles and tallies every report prints (bench, soak, faults, demo, videoclip)."""

from __future__ import annotations

import pytest

from liquidedge.lockstep import LOST, OK, EngineOutcome, Outcome
from liquidedge.stats import percentile_ms, percentiles_ms, summary_ms, tally

MS = [0.001 * i for i in range(1, 101)]  # 1..100 ms, in seconds


@pytest.mark.parametrize(
    ("samples_s", "quantiles", "digits", "expected"),
    [
        (MS, (50, 95, 99), None, {"p50": 50.5, "p95": 95.05, "p99": 99.01}),  # linear interpolation
        (MS, (50, 99.9), 1, {"p50": 50.5, "p99.9": 99.9}),  # any quantile; rounded
        ([0.25], (50, 99), None, {"p50": 250.0, "p99": 250.0}),  # one sample is every percentile
        ([0.003, 0.001, 0.002], (50,), None, {"p50": 2.0}),  # order does not matter
        ([], (50, 95, 99), 2, {"p50": None, "p95": None, "p99": None}),  # nothing: no made-up number
    ],
)
def test_percentiles_are_in_milliseconds(samples_s, quantiles, digits, expected) -> None:
    assert percentiles_ms(samples_s, quantiles, digits) == pytest.approx(expected)


def test_one_percentile_and_the_summary() -> None:
    assert percentile_ms(MS, 95) == pytest.approx(95.05)
    assert percentile_ms([], 50) is None
    assert summary_ms([0.010, 0.020, 0.060]) == {
        "p50": 20.0,
        "p95": 56.0,
        "p99": 59.2,
        "max": 60.0,
        "mean": 30.0,
    }
    assert set(summary_ms([]).values()) == {None}


def outcome(number: int, code: str, rtt_s: float, **engines: tuple[str, float]) -> Outcome:
    found = {name: EngineOutcome(c, ms) for name, (c, ms) in engines.items()}
    return Outcome(number, 0.0, rtt_s, code, rtt_s, engines=found)


def test_a_tally_counts_answers_failures_and_partial_answers() -> None:
    counted = tally(
        [
            outcome(1, OK, 0.020, face=(OK, 5.0), yolo=(OK, 12.0)),
            outcome(2, OK, 0.040, face=(OK, 7.0), yolo=("DEADLINE_EXCEEDED", 900.0)),
            outcome(3, "RESOURCE_EXHAUSTED", 0.001),
            outcome(4, "RESOURCE_EXHAUSTED", 0.001),
            outcome(5, LOST, 2.5),
        ]
    )
    assert (counted.sent, counted.answered, counted.failed) == (5, 2, 3)
    assert counted.failures_by_code == {"LOST": 1, "RESOURCE_EXHAUSTED": 2}
    assert (counted.partial_answers, counted.partial_engines) == (1, {"yolo:DEADLINE_EXCEEDED": 1})
    # Round trips of answered frames only (a refusal is counted, not timed); engines when OK.
    assert counted.rtt_ms(1) == {"p50": 30.0, "p95": 39.0, "p99": 39.8}
    assert counted.rtt_ms(1, extremes=True)["max"] == 40.0
    assert counted.engine_percentiles_ms() == {
        "face": {"p50": 6.0, "p95": 6.9, "p99": 6.98},
        "yolo": {"p50": 12.0, "p95": 12.0, "p99": 12.0},
    }
    assert tally([]).rtt_ms() == {"p50": None, "p95": None, "p99": None}
