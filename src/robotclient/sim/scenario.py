"""The follow-a-person scenario the closed-loop test and `--source sim` run.

The robot starts at the origin facing +x. The person stands 3.8 m ahead, then walks a slow
arc to the robot's left, sprints behind the robot faster than it can turn (leaving the field
of view), stops, and later walks another arc. Radii keep the person at detectable distances.
"""

from __future__ import annotations

import math

from robotclient.sim.world import ChassisLimits, PersonPath, SimWorld, Waypoint
from robotclient.values import Plate


def _polar(t_s: float, radius_m: float, bearing_deg: float) -> Waypoint:
    rad = math.radians(bearing_deg)
    return Waypoint(t_s, radius_m * math.cos(rad), radius_m * math.sin(rad))


FOLLOW_PATH = PersonPath(
    [
        _polar(0.0, 3.8, 8.0),
        _polar(3.0, 3.8, 8.0),  # stands while the robot wakes up and finds them
        _polar(7.0, 3.4, 40.0),  # walks an arc to the left
        _polar(10.0, 4.2, 70.0),
        _polar(12.0, 4.0, 55.0),  # back a little to the right
        _polar(13.5, 3.8, 190.0),  # sprints behind the robot: out of view
        _polar(17.0, 3.8, 190.0),  # waits there
        _polar(21.0, 3.6, 150.0),  # walks on
        _polar(25.0, 4.2, 175.0),
        _polar(30.0, 4.2, 175.0),
    ]
)


def follow_world(hits: tuple[tuple[float, Plate], ...] = ()) -> SimWorld:
    """The world of the scenario; the chassis turns at most 60 deg/s, as a cautious S1 would."""
    return SimWorld(FOLLOW_PATH, limits=ChassisLimits(max_speed_mps=0.8, max_yaw_dps=60.0), hits=hits)
