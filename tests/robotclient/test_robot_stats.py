"""The link's counters and the summary the client logs at exit (its percentiles are the runtime's)."""

from __future__ import annotations

import pytest

from robotclient.stats import LinkStats


def test_the_summary_counts_and_times_answers() -> None:
    stats = LinkStats()
    for number, rtt_s in enumerate((0.010, 0.020, 0.030, 0.040, 0.100)):
        stats.record_answer(
            rtt_s, now_s=float(number), engines={"face": (True, 5.0 + number), "yolo": (number != 2, 20.0)}
        )
    stats.record_failure("UNAVAILABLE")
    stats.bump("sent", 6)
    summary = stats.snapshot()
    assert (summary["sent"], summary["answered"], summary["failed"]) == (6, 5, 1)
    assert summary["failures_by_code"] == {"UNAVAILABLE": 1}
    assert summary["engine_errors"] == {"yolo": 1}  # a failed engine is counted, not timed
    assert summary["rtt_ms"] == pytest.approx({"p50": 30.0, "p95": 88.0, "p99": 97.6})
    assert summary["engine_latency_ms"] == {
        "face": pytest.approx({"p50": 7.0, "p95": 8.8, "p99": 8.96}),
        "yolo": pytest.approx({"p50": 20.0, "p95": 20.0, "p99": 20.0}),
    }
    assert stats.last_rtt_s() == 0.100


def test_an_empty_summary_has_no_made_up_times() -> None:
    summary = LinkStats().snapshot()
    assert summary["rtt_ms"] == {"p50": None, "p95": None, "p99": None}
    assert summary["engine_latency_ms"] == {}
