"""Kinematics of the simulated world: the robot's chassis and people walking their paths.

Units: metres, seconds, degrees. Headings are counter-clockwise from +x; the chassis takes
RoboMaster-style commands (z positive turns clockwise), so the world converts.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from robotclient.sim.figures import Figure, camera_man
from robotclient.values import STOP, Plate, Pose, Twist


@dataclass(frozen=True)
class Waypoint:
    """The person is at (x_m, y_m) at time t_s; between waypoints they walk in a straight line."""

    t_s: float
    x_m: float
    y_m: float


class PersonPath:
    """Piecewise-linear walk through timed waypoints; before the first and after the last, standing."""

    def __init__(self, waypoints: Sequence[Waypoint]) -> None:
        if not waypoints:
            raise ValueError("a path needs at least one waypoint")
        times = [w.t_s for w in waypoints]
        if times != sorted(times):
            raise ValueError("waypoint times must not decrease")
        self.waypoints = tuple(waypoints)

    def position(self, t_s: float) -> tuple[float, float]:
        points = self.waypoints
        if t_s <= points[0].t_s:
            return points[0].x_m, points[0].y_m
        for a, b in itertools.pairwise(points):
            if t_s <= b.t_s:
                span = b.t_s - a.t_s
                f = 1.0 if span <= 0 else (t_s - a.t_s) / span
                return a.x_m + f * (b.x_m - a.x_m), a.y_m + f * (b.y_m - a.y_m)
        return points[-1].x_m, points[-1].y_m

    @property
    def duration_s(self) -> float:
        return self.waypoints[-1].t_s


@dataclass(frozen=True)
class SimPerson:
    """Someone in the world: a name (whom the figures are about), a path, and how they look."""

    name: str
    path: PersonPath
    figure: Figure = field(default_factory=camera_man)


@dataclass(frozen=True)
class ChassisLimits:
    """What the RoboMaster S1 chassis can do (the SDK's limits are higher; these are sane)."""

    max_speed_mps: float = 1.0
    max_yaw_dps: float = 180.0


class SimWorld:
    """The robot's pose, integrated from the commanded twist, and the people's paths.

    `people` is one path (a single person, the camera man) or the people themselves; the first
    is the one `person_position` answers for. Thread-safe: in real-time simulation the driver
    commands from the control loop while the camera renders from the frame loop.
    """

    def __init__(
        self,
        people: PersonPath | Sequence[SimPerson],
        *,
        start: Pose = Pose(),  # noqa: B008 - frozen dataclass, immutable default
        limits: ChassisLimits = ChassisLimits(),
        hits: Sequence[tuple[float, Plate]] = (),
    ) -> None:
        self.people = (SimPerson("person", people),) if isinstance(people, PersonPath) else tuple(people)
        if not self.people:
            raise ValueError("the world needs at least one person")
        if len({p.name for p in self.people}) != len(self.people):
            raise ValueError("people in the world need distinct names")
        self.limits = limits
        self.time_s = 0.0
        self._pose = start
        self._command = STOP
        self._hits = sorted(hits, key=lambda h: h[0])
        self._lock = threading.Lock()

    @property
    def pose(self) -> Pose:
        with self._lock:
            return self._pose

    @property
    def command(self) -> Twist:
        with self._lock:
            return self._command

    def set_command(self, twist: Twist) -> None:
        with self._lock:
            self._command = twist

    def person(self, name: str | None = None) -> SimPerson:
        """The person called `name` (the first one when None); KeyError if there is none."""
        if name is None:
            return self.people[0]
        for person in self.people:
            if person.name == name:
                return person
        raise KeyError(f"nobody called {name!r} in the world")

    def person_position(self, name: str | None = None) -> tuple[float, float]:
        return self.person(name).path.position(self.time_s)

    def step(self, dt_s: float) -> None:
        """Advance time by dt_s, moving the chassis at the commanded (limited) speeds."""
        with self._lock:
            cmd, pose, lim = self._command, self._pose, self.limits
            x_speed = max(-lim.max_speed_mps, min(lim.max_speed_mps, cmd.x_mps))
            y_speed = max(-lim.max_speed_mps, min(lim.max_speed_mps, cmd.y_mps))
            yaw = max(-lim.max_yaw_dps, min(lim.max_yaw_dps, cmd.z_dps))
            # Integrate at the middle of the step's rotation: exact enough for 0.1 s steps.
            heading = pose.heading_deg - yaw * dt_s
            mid = math.radians(pose.heading_deg - yaw * dt_s / 2.0)
            dx = x_speed * math.cos(mid) + y_speed * math.sin(mid)
            dy = x_speed * math.sin(mid) - y_speed * math.cos(mid)
            self._pose = Pose(pose.x_m + dx * dt_s, pose.y_m + dy * dt_s, (heading + 180.0) % 360.0 - 180.0)
            self.time_s += dt_s

    def take_hits(self) -> list[Plate]:
        """Hits scheduled up to now, each reported once."""
        with self._lock:
            due = [plate for t, plate in self._hits if t <= self.time_s]
            self._hits = [(t, plate) for t, plate in self._hits if t > self.time_s]
            return due
