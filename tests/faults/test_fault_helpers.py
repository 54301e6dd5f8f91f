"""The suite's own arithmetic: the figures it prints are only as good as these."""

from __future__ import annotations

import pytest

from faults import fault_netns
from faults.fault_robot import FrameResult, LockstepRobot, max_gap_s, percentile
from liquidedge.v1 import detection_pb2


def answered_at(*times: float) -> list[FrameResult]:
    return [FrameResult(i, t - 0.1, t, "ok", {"yolo": "OK"}) for i, t in enumerate(times, 1)]


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


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        ([], 0.95, 0.0),  # no frames
        ([0.3], 0.95, 0.3),  # one frame
        ([float(i) for i in range(1, 101)], 0.95, 95.0),  # nearest rank
        ([float(i) for i in range(1, 21)], 0.95, 19.0),
        ([5.0, 1.0, 3.0], 1.0, 5.0),  # unsorted input, max
    ],
)
def test_percentile_nearest_rank(values: list[float], share: float, expected: float) -> None:
    assert percentile(values, share) == expected


@pytest.mark.parametrize(
    ("engines", "outcome"),
    [
        ({"face": "OK", "yolo": "OK"}, "ok"),
        ({"face": "OK", "yolo": "DEADLINE_EXCEEDED"}, "partial"),
    ],
)
def test_frame_outcome_from_engine_statuses(engines: dict[str, str], outcome: str) -> None:
    reply = detection_pb2.DetectResponse(
        frame_number=3,
        engines=[detection_pb2.EngineStatus(engine=e, ok=c == "OK", code=c) for e, c in engines.items()],
    )
    assert LockstepRobot._result(3, 0.0, reply, 1).outcome == outcome
    assert LockstepRobot._result(4, 0.0, reply, 1).outcome.startswith("failed:OUT_OF_ORDER")
    assert LockstepRobot._result(3, 0.0, None, 1).outcome == "lost"


def test_without_root_the_namespace_cases_get_a_reason_to_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fault_netns.os, "geteuid", lambda: 1000)
    reason = fault_netns.netns_unavailable_reason()
    assert reason is not None and "root" in reason
