"""Controller: yaw from offset, distance from size, deadbands and limits; LEDs from host and state."""

from __future__ import annotations

import pytest

from robotclient.behavior import Decision, State
from robotclient.controller import (
    MESH_DOWN_LED,
    ControllerSettings,
    command_for,
    follow_twist,
    horizontal_offset,
    host_color,
    led_for,
)
from robotclient.values import STOP, Twist

FRAME = (640, 480)
S = ControllerSettings(
    yaw_gain_dps=100.0,
    yaw_deadband=0.05,
    max_yaw_dps=60.0,
    desired_height=0.5,
    forward_gain_mps=2.0,
    forward_deadband=0.05,
    max_forward_mps=0.4,
    max_backward_mps=0.2,
    forward_max_offset=0.5,
)


def box(center_x: float, height: float) -> tuple[float, float, float, float]:
    """A 100-px-wide box centred at `center_x` whose height is `height` of the frame."""
    h = height * FRAME[1]
    return (center_x - 50, 240 - h / 2, center_x + 50, 240 + h / 2)


@pytest.mark.parametrize(
    ("center_x", "expected"),
    [(0, -1.0), (160, -0.5), (320, 0.0), (480, 0.5), (640, 1.0)],
)
def test_horizontal_offset(center_x: float, expected: float) -> None:
    assert horizontal_offset(box(center_x, 0.5), FRAME) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("center_x", "yaw"),
    [
        (320, 0.0),  # centred
        (320 + 0.05 * 320, 0.0),  # at the deadband edge: still nothing
        (320 - 0.04 * 320, 0.0),  # inside the deadband on the left
        (320 + 0.15 * 320, 10.0),  # 0.15 offset: gain x (0.15 - 0.05) -> continuous past the band
        (320 - 0.15 * 320, -10.0),  # left: turn anticlockwise
        (320 + 0.9 * 320, 60.0),  # saturates at max_yaw_dps
        (320 - 0.9 * 320, -60.0),
    ],
)
def test_yaw(center_x: float, yaw: float) -> None:
    assert follow_twist(box(center_x, 0.5), FRAME, S).z_dps == pytest.approx(yaw)


@pytest.mark.parametrize(
    ("height", "forward"),
    [
        (0.5, 0.0),  # at the wanted size
        (0.46, 0.0),  # inside the deadband (too far by 0.04)
        (0.4, 0.1),  # too far by 0.1: 2.0 x (0.1 - 0.05)
        (0.1, 0.4),  # very far: capped at max_forward_mps
        (0.6, -0.1),  # too close: back off
        (0.99, -0.2),  # much too close: capped at max_backward_mps
    ],
)
def test_forward(height: float, forward: float) -> None:
    assert follow_twist(box(320, height), FRAME, S).x_mps == pytest.approx(forward)


def test_turn_before_approaching_when_far_off_centre() -> None:
    twist = follow_twist(box(600, 0.1), FRAME, S)
    assert twist.x_mps == 0.0 and twist.z_dps > 0
    # Backing away from something too close is still allowed off-centre.
    assert follow_twist(box(600, 0.9), FRAME, S).x_mps < 0


def decision(state: State, halted: bool = False, manoeuvre: Twist | None = None) -> Decision:
    return Decision(state=state, since_s=0.0, halted=halted, manoeuvre=manoeuvre)


@pytest.mark.parametrize(
    ("d", "target", "expected"),
    [
        (decision(State.FOLLOW, halted=True), box(600, 0.1), STOP),  # mesh silent: stop
        (decision(State.SEARCH, halted=True, manoeuvre=Twist(z_dps=45)), None, STOP),
        (decision(State.FOLLOW), None, STOP),  # following but no box this step
        (decision(State.FOLLOW), box(320, 0.5), Twist(x_mps=0.0, z_dps=0.0)),
        (decision(State.SEARCH, manoeuvre=Twist(z_dps=45)), None, Twist(z_dps=45)),
        (decision(State.IDLE, manoeuvre=None), None, STOP),
    ],
)
def test_command_for(d: Decision, target: tuple | None, expected: Twist) -> None:
    assert command_for(d, target, FRAME, S) == expected


def test_host_color_is_stable_distinct_and_bright() -> None:
    assert host_color("edge-a") == host_color("edge-a")
    assert host_color("edge-a") != host_color("edge-b")
    assert max(host_color("edge-a")) == 255
    assert host_color("") == (255, 255, 255)


@pytest.mark.parametrize(
    ("state", "effect"),
    [
        (State.WAKEUP, "breath"),
        (State.SEARCH, "scrolling"),
        (State.FOLLOW, "on"),
        (State.IDLE, "breath"),
        (State.HIT, "flash"),
        (State.EXPLORE, "scrolling"),
    ],
)
def test_led_effect_from_state_colour_from_host(state: State, effect: str) -> None:
    led = led_for(decision(state), "edge-a")
    assert led.effect == effect and led.rgb == host_color("edge-a")


def test_led_when_mesh_is_down() -> None:
    assert led_for(decision(State.FOLLOW, halted=True), "edge-a") == MESH_DOWN_LED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_yaw_dps": -1.0}, "max_yaw_dps"), ({"desired_height": 0.0}, "desired_height")],
)
def test_settings_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ControllerSettings(**kwargs)
