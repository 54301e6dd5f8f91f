"""Small value types shared by the robot client's modules."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One captured frame: a counter, the capture time on the client's clock, BGR pixels."""

    number: int
    capture_time_s: float
    image_bgr: np.ndarray

    @property
    def size_wh(self) -> tuple[int, int]:
        return int(self.image_bgr.shape[1]), int(self.image_bgr.shape[0])


@dataclass(frozen=True)
class Twist:
    """A chassis speed command in the RoboMaster convention.

    x_mps forward, y_mps to the right, z_dps rotation in degrees per second, positive clockwise
    seen from above (a turn to the right), so a target right of centre asks for positive z.
    """

    x_mps: float = 0.0
    y_mps: float = 0.0
    z_dps: float = 0.0

    @property
    def is_stop(self) -> bool:
        return self.x_mps == 0.0 and self.y_mps == 0.0 and self.z_dps == 0.0


STOP = Twist()


@dataclass(frozen=True)
class Pose:
    """Chassis pose in the world (metres, heading in degrees, counter-clockwise from +x)."""

    x_m: float = 0.0
    y_m: float = 0.0
    heading_deg: float = 0.0


class Plate(enum.Enum):
    """The armour plate that was hit; the recovery manoeuvre depends on it."""

    FRONT = "front"
    BACK = "back"
    LEFT = "left"
    RIGHT = "right"


@dataclass(frozen=True)
class Led:
    """LED colour (8-bit RGB) and effect name ("on", "off", "flash", "breath", "scrolling")."""

    rgb: tuple[int, int, int]
    effect: str
