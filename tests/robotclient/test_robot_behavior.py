"""Every transition and timeout of the behaviour state machine, stepped with a manual clock."""

from __future__ import annotations

import pytest

from robotclient.behavior import (
    Behavior,
    BehaviorSettings,
    Command,
    Perception,
    State,
    recovery_twist,
)
from robotclient.clock import ManualClock
from robotclient.values import Plate, Twist

SETTINGS = BehaviorSettings(
    wakeup_s=1.0,
    search_timeout_s=10.0,
    lost_grace_s=0.5,
    idle_explore_after_s=0.0,
    explore_timeout_s=8.0,
    hit_recovery_s=1.0,
)
SEEN = Perception(target_visible=True, target_offset=0.2)
NOTHING = Perception()


def machine_in(state: State, settings: BehaviorSettings = SETTINGS) -> tuple[Behavior, ManualClock]:
    """A machine driven into `state` through real transitions, with the clock at that moment."""
    clock = ManualClock()
    machine = Behavior(settings, clock)
    if state is State.WAKEUP:
        return machine, clock
    clock.advance(settings.wakeup_s)
    if state is State.FOLLOW:
        machine.step(SEEN)
    elif state is State.SEARCH:
        machine.step(NOTHING)
    elif state is State.IDLE:
        machine.step(Perception(command=Command.IDLE))
    elif state is State.EXPLORE:
        machine.step(Perception(command=Command.EXPLORE))
    elif state is State.HIT:
        machine.step(Perception(hit=Plate.LEFT))
    assert machine.state is state
    return machine, clock


# (start state, seconds to wait, perception, expected state) -- one row per transition or limit.
TRANSITIONS = [
    (State.WAKEUP, 0.0, SEEN, State.WAKEUP),  # wakeup lasts wakeup_s even with a target in view
    (State.WAKEUP, 0.99, NOTHING, State.WAKEUP),  # just before the limit
    (State.WAKEUP, 1.0, NOTHING, State.SEARCH),  # wakeup over, nothing in view
    (State.WAKEUP, 1.0, SEEN, State.FOLLOW),  # wakeup over, target in view
    (State.SEARCH, 0.1, SEEN, State.FOLLOW),  # found it
    (State.SEARCH, 9.99, NOTHING, State.SEARCH),  # still searching just before the timeout
    (State.SEARCH, 10.0, NOTHING, State.IDLE),  # search gives up
    (State.FOLLOW, 0.1, SEEN, State.FOLLOW),
    (State.FOLLOW, 0.49, NOTHING, State.FOLLOW),  # a short gap is tolerated
    (State.FOLLOW, 0.5, NOTHING, State.SEARCH),  # lost for lost_grace_s
    (State.IDLE, 100.0, NOTHING, State.IDLE),  # idle forever when exploring is off
    (State.IDLE, 0.1, SEEN, State.FOLLOW),  # idle wakes on a target
    (State.EXPLORE, 0.1, SEEN, State.FOLLOW),
    (State.EXPLORE, 7.99, NOTHING, State.EXPLORE),
    (State.EXPLORE, 8.0, NOTHING, State.IDLE),  # explore gives up
    (State.HIT, 0.99, SEEN, State.HIT),  # recovery is not interrupted by a target
    (State.HIT, 1.0, NOTHING, State.SEARCH),  # then look for whoever hit us
    (State.HIT, 1.0, SEEN, State.SEARCH),
]


@pytest.mark.parametrize(("start", "wait_s", "seen", "expected"), TRANSITIONS)
def test_transition(start: State, wait_s: float, seen: Perception, expected: State) -> None:
    machine, clock = machine_in(start)
    clock.advance(wait_s)
    assert machine.step(seen).state is expected


@pytest.mark.parametrize("start", list(State))
@pytest.mark.parametrize(
    ("command", "expected"),
    [(Command.SEARCH, State.SEARCH), (Command.IDLE, State.IDLE), (Command.EXPLORE, State.EXPLORE)],
)
def test_operator_commands_from_every_state(start: State, command: Command, expected: State) -> None:
    machine, _ = machine_in(start)
    assert machine.step(Perception(target_visible=True, command=command)).state is expected


@pytest.mark.parametrize("start", list(State))
@pytest.mark.parametrize("plate", list(Plate))
def test_hit_from_every_state(start: State, plate: Plate) -> None:
    machine, _ = machine_in(start)
    decision = machine.step(Perception(hit=plate))
    assert decision.state is State.HIT and decision.plate is plate
    assert decision.manoeuvre == recovery_twist(plate, SETTINGS)


def test_hit_wins_over_a_command_in_the_same_step() -> None:
    machine, _ = machine_in(State.FOLLOW)
    assert machine.step(Perception(hit=Plate.BACK, command=Command.IDLE)).state is State.HIT


@pytest.mark.parametrize(
    ("plate", "expected"),
    [
        (Plate.FRONT, Twist(x_mps=-0.3)),  # hit in the face: back away
        (Plate.BACK, Twist(x_mps=0.3, z_dps=180.0)),  # from behind: dart forward and turn round
        (Plate.LEFT, Twist(z_dps=-90.0)),  # from the left: turn left (anticlockwise) to face it
        (Plate.RIGHT, Twist(z_dps=90.0)),  # from the right: turn right
        (None, Twist()),
    ],
)
def test_recovery_depends_on_plate(plate: Plate | None, expected: Twist) -> None:
    assert recovery_twist(plate, SETTINGS) == expected


def test_idle_explores_after_a_while_when_enabled() -> None:
    settings = BehaviorSettings(wakeup_s=0.0, idle_explore_after_s=5.0)
    machine, clock = machine_in(State.IDLE, settings)
    clock.advance(4.9)
    assert machine.step(NOTHING).state is State.IDLE
    clock.advance(0.1)
    assert machine.step(NOTHING).state is State.EXPLORE


def test_idle_ignores_targets_when_told() -> None:
    settings = BehaviorSettings(idle_follows_target=False)
    machine, _ = machine_in(State.IDLE, settings)
    assert machine.step(SEEN).state is State.IDLE


def test_mesh_silent_halts_without_changing_state() -> None:
    machine, clock = machine_in(State.FOLLOW)
    decision = machine.step(Perception(target_visible=True, mesh_ok=False))
    assert decision.state is State.FOLLOW and decision.halted
    clock.advance(0.1)
    assert not machine.step(SEEN).halted


def test_search_turns_towards_where_the_target_was_last_seen() -> None:
    machine, clock = machine_in(State.FOLLOW)
    machine.step(Perception(target_visible=True, target_offset=-0.8))
    clock.advance(0.5)
    decision = machine.step(NOTHING)
    assert decision.state is State.SEARCH
    assert decision.search_direction == -1
    assert decision.manoeuvre == Twist(z_dps=-SETTINGS.search_yaw_dps)


def test_explore_alternates_legs_and_turns() -> None:
    machine, clock = machine_in(State.EXPLORE)
    s = SETTINGS
    assert machine.step(NOTHING).manoeuvre == Twist(x_mps=s.explore_speed_mps)
    clock.advance(s.explore_leg_s + 0.1)
    assert machine.step(NOTHING).manoeuvre == Twist(z_dps=s.explore_yaw_dps)
    clock.advance(s.explore_turn_s)
    assert machine.step(NOTHING).manoeuvre == Twist(x_mps=s.explore_speed_mps)


@pytest.mark.parametrize(
    ("state", "manoeuvre"),
    [(State.FOLLOW, None), (State.IDLE, Twist()), (State.WAKEUP, Twist())],
)
def test_manoeuvre_per_state(state: State, manoeuvre: Twist | None) -> None:
    machine, _ = machine_in(state)
    assert machine.step(SEEN if state is State.FOLLOW else NOTHING).manoeuvre == manoeuvre


def test_since_marks_the_last_transition() -> None:
    machine, clock = machine_in(State.SEARCH)
    entered = clock.now()
    clock.advance(2.0)
    assert machine.step(NOTHING).since_s == entered


def test_history_records_transitions() -> None:
    machine, _ = machine_in(State.FOLLOW)
    assert [state for _, state in machine.history] == [State.WAKEUP, State.FOLLOW]


def test_settings_reject_negative_timeouts() -> None:
    with pytest.raises(ValueError, match="search_timeout_s"):
        BehaviorSettings(search_timeout_s=-1.0)
