"""The named-person closed loop: the robot follows Obama by name while Biden, nearer, crosses in front.

Face, YOLO, recognition and the aggregator run as real processes (`LocalMesh`); the mesh names
the faces in the rendered frames (Obama from obama3.jpg, a photo the default gallery does not
enrol). Time is simulated (0.1 s per frame, commands one frame late), as in the one-person
loop. The figures printed: acquisition frame, share of frames with Obama within 10% of the
frame centre, and how many frames the nearest-person rule would have followed Biden instead.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from liquidedge.imaging import encode_jpeg
from liquidedge.messages import detections_from_proto
from meshtools.localmesh import LocalMesh
from robotclient.behavior import State
from robotclient.clock import ManualClock
from robotclient.controller import ControllerSettings
from robotclient.identity import IDENTITY
from robotclient.link import LinkSettings, MeshLink
from robotclient.pilot import Pilot, PilotSettings
from robotclient.sim.camera import CameraModel, render
from robotclient.sim.closed_loop import ClosedLoopReport, run_closed_loop
from robotclient.sim.scenario import NAMED_DESIRED_HEIGHT, NAMED_PATHS, named_world
from support.calls import detect

log = logging.getLogger(__name__)
STEPS = 160
DT_S = 0.1
FOLLOW = "obama"


def test_the_mesh_names_both_people_in_the_first_frame(real_mesh: LocalMesh, photo_dir: Path) -> None:
    # The precondition of the loop: recognition runs in the mesh and knows both figures' faces.
    image = render(named_world(photo_dir), CameraModel())
    found = detections_from_proto(detect(real_mesh.address, encode_jpeg(image, 85)).detections)
    faces = found[found.label == "face"]
    assert sorted(faces.data[IDENTITY]) == ["biden", "obama"]


@pytest.fixture(scope="module")
def report(real_mesh: LocalMesh, photo_dir: Path) -> ClosedLoopReport:
    clock = ManualClock()
    settings = PilotSettings(
        target_labels=("person", "face"),
        follow=FOLLOW,
        controller=ControllerSettings(desired_height=NAMED_DESIRED_HEIGHT),
    )
    pilot = Pilot(settings, clock)
    with MeshLink(LinkSettings(address=real_mesh.address, deadline_s=10.0)) as link:
        result = run_closed_loop(
            world=named_world(photo_dir), link=link, pilot=pilot, clock=clock, steps=STEPS, dt_s=DT_S
        )
    log.info("named closed loop figures: %s", json.dumps(result.summary()))
    return result


def test_scenario_covers_both_paths() -> None:
    assert all(path.duration_s <= STEPS * DT_S for path in NAMED_PATHS.values())


def test_every_frame_was_answered(report: ClosedLoopReport) -> None:
    assert len(report.records) == STEPS and all(r.answered for r in report.records)


def test_the_other_person_is_nearer_and_the_nearest_rule_would_follow_him(report: ClosedLoopReport) -> None:
    assert report.other_nearer_frames >= 0.9 * STEPS, report.summary()
    # What the robot without --follow would do: the largest person box is Biden's most of the time.
    assert report.nearest_rule_wrong_frames >= 0.75 * STEPS, report.summary()


def test_acquires_the_named_person(report: ClosedLoopReport) -> None:
    acquired = report.acquisition_frame
    # Wakeup lasts 1 s (10 frames); acquisition must follow within a second of it.
    assert acquired is not None and acquired <= 20, report.summary()
    assert report.records[acquired].target_person == FOLLOW, report.summary()


def test_keeps_the_named_person_centred(report: ClosedLoopReport) -> None:
    # Ground truth: Obama's projected centre, whoever the robot thinks it follows.
    assert report.within_fraction(0.1, use_truth=True) >= 0.9, report.summary()


def test_never_follows_the_other_person(report: ClosedLoopReport) -> None:
    assert report.wrong_target_frames == 0, report.summary()
    # Held through every crossing (Obama hidden for a few frames each time): following to the end.
    acquired = report.acquisition_frame or 0
    assert all(r.state is State.FOLLOW for r in report.records[acquired:]), report.summary()
