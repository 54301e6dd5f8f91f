"""The judged closed loop: the simulated robot follows a person with the REAL mesh answering.

Face, YOLO and aggregator run as real processes on loopback (`LocalMesh`), YOLOv3-tiny sees
the rendered frames, and the pilot steers the simulated chassis. Time is simulated (0.1 s
per frame, commands one frame late), so the figures do not depend on this machine's speed.
"""

from __future__ import annotations

import json
import logging

import pytest

from meshtools.localmesh import LocalMesh
from robotclient.behavior import State
from robotclient.clock import ManualClock
from robotclient.link import LinkSettings, MeshLink
from robotclient.pilot import Pilot, PilotSettings
from robotclient.sim.closed_loop import ClosedLoopReport, run_closed_loop
from robotclient.sim.scenario import FOLLOW_PATH, follow_world

log = logging.getLogger(__name__)
STEPS = 300
DT_S = 0.1


@pytest.fixture(scope="module")
def report(real_mesh: LocalMesh) -> ClosedLoopReport:
    clock = ManualClock()
    pilot = Pilot(PilotSettings(target_labels=("person",)), clock)
    with MeshLink(LinkSettings(address=real_mesh.address, deadline_s=10.0)) as link:
        result = run_closed_loop(
            world=follow_world(), link=link, pilot=pilot, clock=clock, steps=STEPS, dt_s=DT_S, latency_steps=1
        )
    log.info("closed loop figures: %s", json.dumps(result.summary()))
    return result


def test_scenario_covers_the_whole_path() -> None:
    assert FOLLOW_PATH.duration_s <= STEPS * DT_S


def test_every_frame_was_answered_by_the_real_mesh(report: ClosedLoopReport) -> None:
    assert len(report.records) == STEPS
    assert all(r.answered for r in report.records)


def test_acquires_the_person(report: ClosedLoopReport) -> None:
    acquired = report.acquisition_frame
    assert acquired is not None, report.summary()
    # Wakeup lasts 1 s (10 frames); acquisition must follow within a second of it.
    assert acquired <= 20, report.summary()


def test_keeps_the_person_centred(report: ClosedLoopReport) -> None:
    # Ground truth: the person's projected centre, not the tracker's estimate of it.
    assert report.within_fraction(0.1, use_truth=True) >= 0.9, report.summary()
    assert report.within_fraction(0.1, use_truth=False) >= 0.9, report.summary()


def test_searches_when_the_person_leaves_the_view(report: ClosedLoopReport) -> None:
    lost = report.search_frame
    assert lost is not None, report.summary()
    assert not report.records[lost].person_in_view
    searching = [r for r in report.records[lost:] if r.state is State.SEARCH]
    # Searching means turning on the spot: the heading changes while the person is away.
    assert abs(searching[-1].pose.heading_deg - searching[0].pose.heading_deg) > 20


def test_reacquires_when_the_person_comes_back(report: ClosedLoopReport) -> None:
    back = report.reacquisition_frame
    assert back is not None, report.summary()
    assert report.records[back].person_in_view
    # And follows to the end of the walk without losing them again.
    assert all(r.state is State.FOLLOW for r in report.records[back:]), report.summary()


def test_keeps_a_distance(report: ClosedLoopReport) -> None:
    # Following the apparent size keeps the robot from running into the person.
    for record in report.records:
        assert abs(record.pose.x_m) < 1.5 and abs(record.pose.y_m) < 1.5
