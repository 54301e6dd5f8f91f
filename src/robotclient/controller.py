"""Turn the target box into chassis speeds, and the state and serving edge into LED light.

Yaw follows the target's horizontal offset from the image centre; forward/backward speed
follows its apparent height against the height wanted (a person filling `desired_height`
of the frame is at the distance the robot should keep). Both have a deadband, so the robot
does not twitch around the set point, a gain, and a limit.
"""

from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass

from robotclient.behavior import Decision, State
from robotclient.values import STOP, Led, Twist


@dataclass(frozen=True)
class ControllerSettings:
    # Yaw: degrees per second per unit of offset (offset is -1 at the left edge, +1 at the right).
    yaw_gain_dps: float = 120.0
    yaw_deadband: float = 0.03
    max_yaw_dps: float = 90.0
    # Distance: metres per second per unit of height error (fraction of frame height).
    desired_height: float = 0.6
    forward_gain_mps: float = 1.5
    forward_deadband: float = 0.05
    max_forward_mps: float = 0.5
    max_backward_mps: float = 0.3
    # Do not drive forward while the target is far off-centre: turn first, then approach.
    forward_max_offset: float = 0.5

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if not 0.0 < self.desired_height <= 1.0:
            raise ValueError(f"desired_height must be in (0, 1], got {self.desired_height}")


def _deadband(error: float, band: float) -> float:
    """Zero inside the band, and continuous at its edge (no jump from 0 to gain*band)."""
    if abs(error) <= band:
        return 0.0
    return error - band if error > 0 else error + band


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def horizontal_offset(xyxy: tuple[float, float, float, float], frame_wh: tuple[int, int]) -> float:
    """Target centre relative to the image centre: -1 at the left edge, 0 centred, +1 right."""
    half_width = frame_wh[0] / 2.0
    center_x = (xyxy[0] + xyxy[2]) / 2.0
    return (center_x - half_width) / half_width


def follow_twist(
    xyxy: tuple[float, float, float, float], frame_wh: tuple[int, int], settings: ControllerSettings
) -> Twist:
    """Speeds that centre the target and bring it to the wanted apparent size."""
    s = settings
    offset = horizontal_offset(xyxy, frame_wh)
    yaw = _clip(s.yaw_gain_dps * _deadband(offset, s.yaw_deadband), -s.max_yaw_dps, s.max_yaw_dps)
    height = (xyxy[3] - xyxy[1]) / frame_wh[1]
    error = s.desired_height - height
    forward = _clip(
        s.forward_gain_mps * _deadband(error, s.forward_deadband), -s.max_backward_mps, s.max_forward_mps
    )
    if abs(offset) > s.forward_max_offset:
        forward = min(forward, 0.0)
    return Twist(x_mps=forward, z_dps=yaw)


def command_for(
    decision: Decision,
    target_xyxy: tuple[float, float, float, float] | None,
    frame_wh: tuple[int, int],
    settings: ControllerSettings,
) -> Twist:
    """The chassis command for one step: stop when halted, follow in FOLLOW, else the manoeuvre."""
    if decision.halted:
        return STOP
    if decision.state is State.FOLLOW:
        return follow_twist(target_xyxy, frame_wh, settings) if target_xyxy is not None else STOP
    return decision.manoeuvre or STOP


def host_color(hostname: str) -> tuple[int, int, int]:
    """A bright colour that is the same for a host name on every robot and every run.

    sha256, not `hash()`: Python salts string hashes per process.
    """
    if not hostname:
        return (255, 255, 255)
    digest = hashlib.sha256(hostname.encode()).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536.0
    r, g, b = colorsys.hsv_to_rgb(hue, 1.0, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


_STATE_EFFECT = {
    State.WAKEUP: "breath",
    State.SEARCH: "scrolling",
    State.FOLLOW: "on",
    State.IDLE: "breath",
    State.HIT: "flash",
    State.EXPLORE: "scrolling",
}
MESH_DOWN_LED = Led(rgb=(255, 0, 0), effect="flash")


def led_for(decision: Decision, served_by_host: str) -> Led:
    """Colour names the edge that serves the robot; the effect shows what the robot is doing."""
    if decision.halted:
        return MESH_DOWN_LED
    return Led(rgb=host_color(served_by_host), effect=_STATE_EFFECT[decision.state])
