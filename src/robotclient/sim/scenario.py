"""The scenarios the closed-loop tests and `--source sim` run.

Follow a person (`follow_world`): the robot starts at the origin facing +x. The person stands
3.8 m ahead, then walks a slow arc to the robot's left, sprints behind the robot faster than
it can turn (leaving the field of view), stops, and later walks another arc. Radii keep the
person at detectable distances.

Follow a named person (`named_world`): two photo figures (`robotclient.sim.figures`), Obama
(from obama3.jpg, a photo the default gallery does not enrol) and Biden (biden.jpg). Obama
stands about 2 m away and walks slow arcs; Biden stays nearer the robot (about 1.2 m, so he
looks bigger: a nearest-person rule would follow him) and walks across in front of Obama,
hiding him for a moment, four times in 16 s. At 2 m Obama's face is ~70 px tall, big enough for the
mesh to recognise; the robot follows at a box height of `NAMED_DESIRED_HEIGHT` of the frame,
where his face stays in view.
"""

from __future__ import annotations

import math
from pathlib import Path

from robotclient.sim.figures import load_photo_figure
from robotclient.sim.world import ChassisLimits, PersonPath, SimPerson, SimWorld, Waypoint
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


# Where `make recognition-models` puts the photos (relative to the repository).
DEFAULT_PHOTO_DIR = "models/face-photos"
NAMED_PHOTOS = {"obama": "obama3.jpg", "biden": "biden.jpg"}
# Box height (fraction of the frame) to follow a photo figure at: its face ~80 px, head in view.
NAMED_DESIRED_HEIGHT = 0.45

NAMED_PATHS = {
    "obama": PersonPath(
        [
            _polar(0.0, 2.0, -6.0),
            _polar(3.0, 2.0, -6.0),  # stands while the robot wakes up and finds him
            _polar(8.0, 2.1, 15.0),  # walks an arc to the left
            _polar(12.0, 1.9, 30.0),
            _polar(16.0, 2.1, 10.0),  # and back to the right
        ]
    ),
    # Nearer, and each crossing in front of Obama brisk (~1.4 m/s), hiding him for a moment.
    "biden": PersonPath(
        [
            _polar(0.0, 1.25, 16.0),  # left of Obama
            _polar(3.0, 1.25, 14.0),
            _polar(3.6, 1.2, -26.0),  # crosses to his right
            _polar(7.0, 1.3, -8.0),
            _polar(7.7, 1.2, 40.0),  # crosses to his left
            _polar(11.0, 1.3, 45.0),
            _polar(11.7, 1.2, 5.0),  # to his right
            _polar(15.0, 1.3, 0.0),
            _polar(15.7, 1.2, 40.0),  # and to his left
        ]
    ),
}


def named_world(photo_dir: str | Path = DEFAULT_PHOTO_DIR) -> SimWorld:
    """Obama (followed by name in the tests) and Biden, nearer, crossing in front of him."""
    people = [
        SimPerson(name, NAMED_PATHS[name], load_photo_figure(Path(photo_dir) / photo))
        for name, photo in NAMED_PHOTOS.items()
    ]
    return SimWorld(people, limits=ChassisLimits(max_speed_mps=0.8, max_yaw_dps=60.0))
