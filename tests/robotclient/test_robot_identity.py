"""Names from the mesh's faces passed on to the person boxes that hold them."""

from __future__ import annotations

import numpy as np
import pytest
from robot_fakes import scene

from liquidedge.detections import Detections
from robotclient.identity import HELD_BY, IDENTITY, attach_face_identities, known_name


@pytest.mark.parametrize(
    ("value", "name"),
    [("obama", "obama"), ("unknown", None), ("", None), (None, None), (float("nan"), None)],
)
def test_known_name(value: object, name: str | None) -> None:
    assert known_name(value) == name


def test_answers_without_identities_pass_through() -> None:
    # Recognition off: no identity column, nothing to attach (the robot behaves as before).
    detections = scene(("person", (0, 0, 100, 300)), ("face", (30, 10, 70, 50)))
    assert attach_face_identities(detections) is detections


def test_the_person_box_takes_the_name_of_the_face_it_holds() -> None:
    detections = scene(
        ("person", (0, 0, 100, 300)),
        ("face", (30, 10, 70, 50), "obama"),
        ("person", (300, 0, 400, 300)),
        ("face", (330, 10, 370, 50), "unknown"),
        ("face", (500, 10, 540, 50), "biden"),  # no person box around it
    )
    before = {key: column.copy() for key, column in detections.data.items()}
    out = attach_face_identities(detections)
    assert list(out.data[IDENTITY]) == ["obama", "obama", "unknown", "unknown", "biden"]
    assert list(out.data[HELD_BY]) == [None, "person", None, "person", None]
    # The input is left as it was.
    assert detections.data.keys() == before.keys()
    for key, column in before.items():
        assert list(detections.data[key]) == list(column)


def test_a_far_face_inside_a_near_persons_box_goes_to_its_own_box() -> None:
    # The near person's big box covers the far person's small box and face; the far box's top
    # is that face, so it is the far person's.
    detections = scene(
        ("person", (100, 0, 500, 480)),  # near
        ("person", (300, 150, 380, 400)),  # far, in front of the near box's body
        ("face", (320, 155, 360, 195), "obama"),
        ("face", (260, 10, 340, 90), "biden"),
    )
    out = attach_face_identities(detections)
    assert list(out.data[IDENTITY][:2]) == ["biden", "obama"]


def test_one_face_per_box_the_best_fitting_one() -> None:
    detections = scene(
        ("person", (0, 0, 200, 400)),
        ("face", (70, 5, 130, 65), "obama"),  # at the head
        ("face", (20, 200, 60, 240), "biden"),  # lower down (a photo on a shirt)
    )
    out = attach_face_identities(detections)
    assert out.data[IDENTITY][0] == "obama"
    assert list(out.data[HELD_BY]) == [None, "person", None]


def test_empty_answer() -> None:
    empty = Detections.empty().with_data(**{IDENTITY: np.array([], object)})
    assert len(attach_face_identities(empty)) == 0


@pytest.mark.parametrize(
    "face",
    [
        (280, 74, 343, 137),  # the far person's face at the edge of the near one's box, lower down
        (330, 150, 370, 190),  # centred but far below the top (a face on a T-shirt)
    ],
)
def test_a_face_that_is_not_the_boxs_head_names_nobody(face: tuple) -> None:
    # While two people cross, YOLO may see them as one box: the far face visible beside the
    # near person's body must not make the near person the far one.
    detections = scene(("person", (250, 0, 650, 270)), ("face", face, "obama"))
    out = attach_face_identities(detections)
    assert out.data[IDENTITY][0] is None
    assert out.data[HELD_BY][1] is None
