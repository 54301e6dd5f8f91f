"""Simulator kinematics and camera projection."""

from __future__ import annotations

import math

import pytest
from robot_fakes import FakeMesh

from robotclient.clock import ManualClock
from robotclient.link import LinkSettings, MeshLink
from robotclient.pilot import Pilot, PilotSettings
from robotclient.sim.camera import CameraModel, project_person, render
from robotclient.sim.closed_loop import run_closed_loop
from robotclient.sim.world import ChassisLimits, PersonPath, SimPerson, SimWorld, Waypoint
from robotclient.values import Pose, Twist


def test_path_interpolates_and_holds_the_ends() -> None:
    path = PersonPath([Waypoint(1.0, 0.0, 0.0), Waypoint(3.0, 2.0, 4.0)])
    assert path.position(0.0) == (0.0, 0.0)
    assert path.position(2.0) == (1.0, 2.0)
    assert path.position(9.0) == (2.0, 4.0)
    assert path.duration_s == 3.0


@pytest.mark.parametrize("waypoints", [[], [Waypoint(2, 0, 0), Waypoint(1, 0, 0)]])
def test_path_validation(waypoints: list) -> None:
    with pytest.raises(ValueError):
        PersonPath(waypoints)


@pytest.mark.parametrize(
    ("twist", "expected"),
    [
        (Twist(x_mps=0.5), Pose(0.5, 0.0, 0.0)),  # forward along +x
        (Twist(y_mps=0.5), Pose(0.0, -0.5, 0.0)),  # right of +x is -y
        (Twist(z_dps=90.0), Pose(0.0, 0.0, -90.0)),  # positive z turns clockwise
        (Twist(z_dps=-500.0), Pose(0.0, 0.0, 120.0)),  # limited to max_yaw_dps
        (Twist(x_mps=5.0), Pose(1.0, 0.0, 0.0)),  # limited to max_speed_mps
    ],
)
def test_chassis_kinematics(twist: Twist, expected: Pose) -> None:
    world = SimWorld(
        PersonPath([Waypoint(0, 3, 0)]), limits=ChassisLimits(max_speed_mps=1.0, max_yaw_dps=120.0)
    )
    world.set_command(twist)
    for _ in range(10):
        world.step(0.1)
    pose = world.pose
    assert (pose.x_m, pose.y_m, pose.heading_deg) == pytest.approx(
        (expected.x_m, expected.y_m, expected.heading_deg), abs=1e-9
    )
    assert world.time_s == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("bearing_deg", "side"),
    [(0.0, 0), (20.0, -1), (-20.0, 1)],  # left of the robot is left in the image
)
def test_projection(bearing_deg: float, side: int) -> None:
    rad = math.radians(bearing_deg)
    world = SimWorld(PersonPath([Waypoint(0, 4 * math.cos(rad), 4 * math.sin(rad))]))
    model = CameraModel()
    view = project_person(world, model)
    assert view.in_view
    assert math.copysign(1, view.center_x_px - 320) == side or (
        side == 0 and view.center_x_px == pytest.approx(320)
    )
    height_m = world.person().figure.height_m
    assert view.height_px == pytest.approx(model.focal_px * height_m / (4 * math.cos(rad)))


def test_person_behind_is_out_of_view_and_not_drawn() -> None:
    world = SimWorld(PersonPath([Waypoint(0, -3, 0)]))
    model = CameraModel()
    assert not project_person(world, model).in_view
    empty = render(world, model)
    world_front = SimWorld(PersonPath([Waypoint(0, 3, 0)]))
    assert (render(world_front, model) != empty).any()
    assert empty.shape == (480, 640, 3)


def test_closed_loop_records_say_who_is_who(fake_mesh: FakeMesh) -> None:
    """Plumbing of the figures, against the fake mesh (one person box, centred, every frame)."""
    ahead = PersonPath([Waypoint(0, 3.0, 0.0)])  # projected at the image centre, where the fake's box is
    beside = PersonPath([Waypoint(0, 2.0 * math.cos(0.35), 2.0 * math.sin(0.35))])  # nearer, to the left
    world = SimWorld([SimPerson("far", ahead), SimPerson("near", beside)])
    clock = ManualClock()
    pilot = Pilot(PilotSettings(target_labels=("person",), target_min_hits=1, follow="near"), clock)
    with MeshLink(LinkSettings(address=fake_mesh.address), clock) as link:
        report = run_closed_loop(world=world, link=link, pilot=pilot, clock=clock, steps=3)
    assert report.followed == "near"
    # The fake's box is where "far" is: the nearest-person rule picks "far", not the one followed.
    assert [r.largest_person for r in report.records] == ["far"] * 3
    assert report.nearest_rule_wrong_frames == 3
    # Nobody is named "near" in the fake's answers: no target, so never a wrong one.
    assert report.wrong_target_frames == 0
    assert report.other_nearer_frames == 0  # the one followed is the nearer one
