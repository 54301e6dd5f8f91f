"""The suite's own arithmetic: the figures it prints are only as good as these.

(The lock-step client's outcomes and the percentiles are the runtime's, tested with it in
tests/liquidedge/test_lockstep.py and test_stats.py.)
"""

from __future__ import annotations

import pytest

from faults import fault_netns
from faults.fault_robot import max_gap_s
from liquidedge.lockstep import OK, EngineOutcome, Outcome


def answered_at(*times: float) -> list[Outcome]:
    return [
        Outcome(i, t - 0.1, t, OK, 0.1, engines={"yolo": EngineOutcome(OK, 5.0)})
        for i, t in enumerate(times, 1)
    ]


@pytest.mark.parametrize(
    ("done", "fault", "end", "gap"),
    [
        (
            (1.0, 1.2, 1.4, 1.6),
            1.3,
            2.0,
            0.2,
        ),  # steady answers: one step; the tail after the last is not blindness
        ((1.0, 1.2, 2.5, 2.7), 1.3, 3.0, 1.3),  # blind from the last answer before the fault
        ((1.0, 1.2), 1.3, 4.0, 2.8),  # nothing after the fault: blind until the end
        ((2.0, 2.1), 1.0, 2.5, 1.0),  # nothing before the fault: counted from the fault
    ],
)
def test_max_gap_spans_the_fault(done: tuple[float, ...], fault: float, end: float, gap: float) -> None:
    assert max_gap_s(answered_at(*done), lambda r: r.answered, fault, end) == pytest.approx(gap)


def test_without_root_the_namespace_cases_get_a_reason_to_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fault_netns.os, "geteuid", lambda: 1000)
    reason = fault_netns.netns_unavailable_reason()
    assert reason is not None and "root" in reason
