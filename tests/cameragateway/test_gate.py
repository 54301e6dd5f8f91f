"""The fair gate: turns in the order asked, no starvation, a limit that adapts to late answers."""

from __future__ import annotations

import threading

import pytest

from cameragateway.gate import FairGate
from support.waiting import wait_for


def test_slots_go_in_the_order_cameras_asked() -> None:
    gate = FairGate(1, adaptive=False)
    assert gate.acquire("busy", 0.1)
    order: list[str] = []

    def camera(name: str) -> None:
        assert gate.acquire(name, 10.0)
        order.append(name)
        gate.release("ok")

    threads = []
    for name in ("a", "b", "c", "d"):
        thread = threading.Thread(target=camera, args=(name,))
        thread.start()
        threads.append(thread)
        wait_for(lambda name=name: name in gate._waiting)  # in line before the next one asks
    gate.release("ok")
    for thread in threads:
        thread.join(10.0)
    assert order == ["a", "b", "c", "d"]


def test_a_camera_that_stops_asking_does_not_hold_up_the_line() -> None:
    gate = FairGate(1, adaptive=False)
    assert gate.acquire("first", 0.1)
    assert not gate.acquire("gone", 0.05)  # in line, then its camera went quiet
    assert not gate.acquire("next", 0.05)
    gate.release("ok")
    # "gone" is ahead in line but not asking: "next" is served.
    assert gate.acquire("next", 1.0)
    gate.release("ok")
    gate.leave("gone")
    assert gate._queue == []


def test_a_waiting_camera_keeps_its_place_after_a_timeout() -> None:
    gate = FairGate(1, adaptive=False)
    assert gate.acquire("holder", 0.1)
    assert not gate.acquire("early", 0.05)
    assert not gate.acquire("late", 0.05)
    granted: list[str] = []

    def ask(name: str) -> None:
        if gate.acquire(name, 10.0):
            granted.append(name)

    # "late" asks again first this time; "early" keeps the place it had.
    threads = [threading.Thread(target=ask, args=(name,)) for name in ("late", "early")]
    for thread, name in zip(threads, ("late", "early"), strict=True):
        thread.start()
        wait_for(lambda name=name: name in gate._waiting)
    gate.release("ok")
    wait_for(lambda: granted)
    assert granted == ["early"]
    gate.release("ok")
    for thread in threads:
        thread.join(10.0)
    assert granted == ["early", "late"]


@pytest.mark.parametrize(
    ("outcomes", "limit"),
    [
        ([], 8),
        (["late"], 4),  # a missed deadline halves the limit
        (["late", "late", "late", "late", "late"], 1),  # never below one
        (
            ["late", "late", "late"] + ["ok"] * 4,
            3,
        ),  # 1 -> 2 -> 2.5 -> 2.9 -> 3.2: one slot per limit's worth of answers
        (["other"] * 5, 8),  # refusals say nothing about the mesh's capacity
        (["ok"] * 50, 8),  # never above the configured maximum
    ],
)
def test_limit_adapts(outcomes: list[str], limit: int) -> None:
    gate = FairGate(8)
    for outcome in outcomes:
        assert gate.acquire("cam", 0.1)
        gate.release(outcome)
    assert gate.limit == limit


def test_in_flight_never_exceeds_the_limit() -> None:
    gate = FairGate(3, adaptive=False)
    assert [gate.acquire(f"c{i}", 0.05) for i in range(5)] == [True, True, True, False, False]
    assert gate.stats() == {"limit": 3, "max": 3, "in_flight": 3, "waiting": 0}
