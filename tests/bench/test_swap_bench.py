"""`make swap-bench`, lean: the same run (real mesh, store, 4 lock-step streams, a promotion,
three broken versions) with short phases, and its verdict on made-up runs.

Behaviour only: the speed criteria (p99 ratio, time to the new version) are the bench's to
judge on a quiet machine; here they are computed and printed, never asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshtools.swap_bench import Answer, BenchSettings, Marks, format_report, judge, run_bench

OLD, NEW = "v1", "v2"


def answers(*specs: tuple[float, str, str], rtt_s: float = 0.1) -> list[Answer]:
    """(sent at, code, version) per frame, one stream."""
    return [Answer(0, sent, sent + rtt_s, code, rtt_s, version) for sent, code, version in specs]


MARKS = Marks(
    baseline_s=0.0, promoted_s=10.0, switched_s=12.0, broken={"bad": (20.0, 25.0, True)}, ended_s=25.0
)
GOOD = [(t, "OK", OLD) for t in range(10)] + [(t, "OK", NEW) for t in range(10, 25)]


@pytest.mark.parametrize(
    ("run", "marks", "failing"),
    [
        (GOOD, MARKS, []),
        # a frame that failed, whatever the phase
        ([*GOOD, (17.5, "UNAVAILABLE", "")], MARKS, ["no failed frame"]),
        # a partial answer (an engine failed inside it) is a failed frame too
        ([*GOOD, (3.5, "yolo:DEADLINE_EXCEEDED", "")], MARKS, ["no failed frame"]),
        # the old version still answering 11 s after the promotion
        ([*GOOD, (21.0, "OK", OLD)], MARKS, ["at most 10 s", "bad refused"]),
        # the broken version was not refused
        (GOOD, Marks(0.0, 10.0, 12.0, {"bad": (20.0, 25.0, False)}, 25.0), ["bad refused"]),
        # no answer from the new version at all
        ([(t, "OK", OLD) for t in range(25)], MARKS, ["every answer", "at most 10 s", "bad refused"]),
    ],
)
def test_the_verdict_names_each_missed_criterion(
    run: list[tuple[float, str, str]], marks: Marks, failing: list[str]
) -> None:
    checks, _figures = judge(answers(*run), marks, (OLD, NEW), [])
    missed = [check.name for check in checks if not check.passed]
    assert len(missed) == len(failing) and all(any(part in name for name in missed) for part in failing), (
        missed
    )


def test_slower_answers_while_swapping_miss_the_p99_criterion() -> None:
    slow = [Answer(0, t, t + 0.5, "OK", 0.5, NEW) for t in (10.0, 10.5, 11.0)]
    checks, figures = judge([*answers(*GOOD), *slow], MARKS, (OLD, NEW), [])
    assert [c.name for c in checks if not c.passed] == ["p99 while swapping <= 2x p99 before"]
    assert figures["p99_ratio"] > 2


def test_health_not_serving_is_a_miss() -> None:
    checks, _ = judge(answers(*GOOD), MARKS, (OLD, NEW), [("yolo", 11.0, "NOT_SERVING")])
    assert [c.name for c in checks if not c.passed] == ["health SERVING throughout"]


def test_the_real_mesh_swaps_with_no_failed_frame_and_refuses_every_broken_version(
    model_dir: str, tmp_path: Path
) -> None:
    settings = BenchSettings(
        model_dir=Path(model_dir),
        engines=("yolo",),
        warmup_s=2.0,
        baseline_s=5.0,
        after_s=2.0,
        broken_s=1.0,
        poll_s=0.5,
        work_dir=tmp_path,
    )
    result = run_bench(settings)
    print(format_report(result))  # the figures, for whoever reads the test log
    missed = [f"{c.name}: {c.figure}" for c in result.checks if not c.passed and not c.timed]
    assert missed == []
    assert set(result.figures["broken"]) == {"bad-checksum", "truncated-weights", "wrong-class-count"}
    assert result.figures["swap"]["frames"] > 0 and result.figures["before"]["frames"] > 0
