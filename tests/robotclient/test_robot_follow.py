"""Following a named person: held through frames without a name, moved by the names the mesh gives."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from robot_fakes import FakeMesh, Running, detection, scene

from liquidedge.detections import Detections
from liquidedge.legacy import robot_pb2
from robotclient.behavior import State
from robotclient.clock import ManualClock
from robotclient.identity import IDENTITY
from robotclient.link.legacy import legacy_detections
from robotclient.operator_io import annotate, caption
from robotclient.pilot import Pilot, PilotSettings
from robotclient.runtime import status_line
from support.waiting import wait_for

# Obama farther (smaller) on the left, Biden nearer (bigger) on the right.
OBAMA = ("person", (60, 150, 160, 400))
OBAMA_FACE = (85, 160, 135, 210)
BIDEN = ("person", (300, 20, 560, 470))
BIDEN_FACE = (390, 35, 470, 115)


def two_people(obama_face: str | None, biden_face: str | None = "biden") -> Detections:
    """Both people; each face box present with that identity, or absent when None."""
    boxes: list = [OBAMA, BIDEN]
    if obama_face is not None:
        boxes.append(("face", OBAMA_FACE, obama_face))
    if biden_face is not None:
        boxes.append(("face", BIDEN_FACE, biden_face))
    return scene(*boxes)


def pilot_following(name: str | None) -> Pilot:
    return Pilot(PilotSettings(target_labels=("person", "face"), follow=name), ManualClock())


def step(pilot: Pilot, answer: Detections):
    return pilot.step(frame_wh=(640, 480), detections=answer, mesh_ok=True).target


def test_the_named_person_is_held_while_the_face_is_not_recognised() -> None:
    pilot = pilot_following("obama")
    step(pilot, two_people("obama"))
    target = step(pilot, two_people("obama"))
    assert target is not None and (target.label, target.identity) == ("person", "obama")
    assert target.xyxy == pytest.approx(OBAMA[1])
    held = target.track_id
    # Turned away / too small / recognition late ("unknown"), then no face box at all.
    for face in ["unknown"] * 5 + [None] * 5:
        target = step(pilot, two_people(face))
        assert target is not None and target.track_id == held and target.identity == "obama"


def test_without_a_name_the_robot_follows_the_nearest_as_before() -> None:
    pilot = pilot_following(None)
    step(pilot, two_people("obama"))
    target = step(pilot, two_people("obama"))
    assert target is not None and target.xyxy == pytest.approx(BIDEN[1])


def test_another_persons_face_in_the_held_box_drops_the_target() -> None:
    pilot = pilot_following("obama")
    step(pilot, two_people("obama"))
    assert step(pilot, two_people("obama")) is not None
    # The same box now shows someone else's face, and Obama is nowhere: nobody to follow.
    assert step(pilot, two_people("alice", biden_face="unknown")) is None


def test_the_name_recognised_elsewhere_moves_the_target() -> None:
    pilot = pilot_following("obama")
    step(pilot, two_people("obama", biden_face=None))
    first = step(pilot, two_people("obama", biden_face=None))
    assert first is not None and first.xyxy == pytest.approx(OBAMA[1])
    # The right-hand box turns out to be Obama (the left one only held the name): follow him there.
    for _ in range(2):
        target = step(pilot, two_people("unknown", biden_face="obama"))
    assert target is not None and target.track_id != first.track_id
    assert target.xyxy == pytest.approx(BIDEN[1]) and target.identity == "obama"


def test_a_named_face_without_a_person_box_is_followed_until_a_box_holds_it() -> None:
    pilot = pilot_following("obama")
    face_only = scene(("face", OBAMA_FACE, "obama"))
    step(pilot, face_only)
    target = step(pilot, face_only)
    assert target is not None and target.label == "face"
    step(pilot, two_people("obama"))
    target = step(pilot, two_people("obama"))
    assert target is not None and target.label == "person" and target.identity == "obama"


def test_live_view_names_the_boxes_and_marks_the_followed_target() -> None:
    pilot = pilot_following("obama")
    step(pilot, two_people("obama"))
    result = pilot.step(frame_wh=(640, 480), detections=two_people("obama"), mesh_ok=True)
    captions = {(t.label, t.identity): caption(t, is_target=t is result.target) for t in result.tracks}
    target_id = result.target.track_id
    assert captions[("person", "obama")] == f"#{target_id} person obama TARGET"
    assert captions[("person", "biden")].endswith("person biden")
    assert captions[("face", "obama")].endswith("face obama")
    blank = np.zeros((480, 640, 3), np.uint8)
    plain = annotate(blank, result, rtt_s=None, fps=0.0, host="")
    following = annotate(blank, result, rtt_s=None, fps=0.0, host="", follow="obama")
    # The overlay's fourth line (y 60..84) says whom the robot follows.
    assert not plain[62:84, :200].any() and following[62:84, :200].any()


@pytest.fixture
def following(fake_mesh: FakeMesh) -> Iterator[Running]:
    """A robot following obama through the fake mesh, whose answers carry identities (v1 attributes)."""
    fake_mesh.script.boxes = lambda number: [
        detection("person", BIDEN[1], color=(200, 30, 30)),
        detection("face", BIDEN_FACE, identity="biden", distance=0.2, gallery_version="v1"),
        detection("person", OBAMA[1], color=(30, 30, 200)),
        detection("face", OBAMA_FACE, identity="obama", distance=0.35, gallery_version="v1"),
    ]
    run = Running(
        fake_mesh.address, np.zeros((480, 640, 3), np.uint8), labels=("person", "face"), follow="obama"
    )
    yield run
    run.close()


def test_follows_the_named_person_through_the_v1_link(following: Running) -> None:
    wait_for(lambda: following.state() is State.FOLLOW, 10.0, "follow")
    target = following.runtime.last_step.target
    assert target is not None and target.identity == "obama"
    assert target.xyxy == pytest.approx(OBAMA[1])
    # The face's attributes come through the link as the mesh sent them.
    (face,) = [t for t in following.runtime.last_step.tracks if (t.label, t.identity) == ("face", "obama")]
    assert face.attributes["distance"] == pytest.approx(0.35) and face.attributes["gallery_version"] == "v1"
    # Obama is left of centre: the robot turns left (negative z), towards him and away from Biden.
    wait_for(lambda: following.driver.twist.z_dps < 0, 5.0, "turning towards obama")
    line = status_line(following.runtime.last_step, rtt_s=None, fps=1.0, host="edge-a", outage=False)
    assert f"target=#{target.track_id} person obama" in line


def legacy(name: str, eng: int) -> robot_pb2.DetectedObject:
    return robot_pb2.DetectedObject(name=name, eng=eng, confidence=0.9, x=10, y=10, w=50, h=50)


FACE_ENG, YOLO_ENG = robot_pb2.DetectedObject.FACE, robot_pb2.DetectedObject.YOLO


@pytest.mark.parametrize(
    ("objects", "labels", "identities"),
    [
        # Names off (the default for legacy robots): exactly as before, no identities at all.
        ([("person", YOLO_ENG), ("face", FACE_ENG)], ["person", "face"], None),
        # Names on: a recognised face carries its person's name; the others are unknown faces.
        (
            [("person", YOLO_ENG), ("obama", FACE_ENG), ("face", FACE_ENG)],
            ["person", "face", "face"],
            [None, "obama", "unknown"],
        ),
    ],
)
def test_legacy_names_become_identities(objects: list, labels: list, identities: list | None) -> None:
    found = legacy_detections([legacy(name, eng) for name, eng in objects])
    assert list(found.label) == labels
    assert list(found.engine) == ["face" if eng == FACE_ENG else "yolo" for _, eng in objects]
    if identities is None:
        assert IDENTITY not in found.data
    else:
        assert list(found.data[IDENTITY]) == identities
