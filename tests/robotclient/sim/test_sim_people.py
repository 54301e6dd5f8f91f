"""The simulator's photo figures: built from real photos, and seen by the real mesh as people with faces.

The named-person closed loop is only as good as what the mesh sees in the rendered frames: a
figure YOLOv3-tiny does not find as "person", whose face the Haar cascade misses or recognition
does not name would make it a test of nothing. So each figure is rendered alone at the
distances the scenario uses and sent through the real mesh, recognition included (one frame each).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from liquidedge.imaging import encode_jpeg
from liquidedge.messages import detections_from_proto
from meshtools.localmesh import LocalMesh
from robotclient.identity import IDENTITY, UNKNOWN
from robotclient.sim.camera import CameraModel, project_person, render
from robotclient.sim.figures import load_photo_figure, photo_figure
from robotclient.sim.scenario import NAMED_PHOTOS
from robotclient.sim.world import PersonPath, SimPerson, SimWorld, Waypoint
from support.calls import detect

# dlib's embedding is reliable from 60 px faces up (the recognition engine's default min_face).
RECOGNISABLE_PX = 60


@pytest.fixture(scope="module")
def figures(photo_dir: Path) -> dict:
    return {name: load_photo_figure(photo_dir / photo) for name, photo in NAMED_PHOTOS.items()}


def alone(name: str, figure, distance_m: float, bearing_deg: float) -> SimWorld:
    rad = math.radians(bearing_deg)
    path = PersonPath([Waypoint(0.0, distance_m * math.cos(rad), distance_m * math.sin(rad))])
    return SimWorld([SimPerson(name, path, figure)])


def test_a_figure_is_the_photos_head_and_shoulders_on_a_body(figures: dict) -> None:
    for figure in figures.values():
        assert figure.alpha is not None and figure.alpha.shape == figure.image_bgr.shape[:2]
        assert figure.height_m == 1.0 and 0.6 < figure.aspect < 0.9
        # Opaque down the middle from the head to the waist (then the gap between the legs),
        # transparent in the corners.
        middle = figure.alpha[:, figure.alpha.shape[1] // 2]
        waist = round(len(middle) * 2.75 / 3.75)
        assert (middle[len(middle) // 10 : waist - 2] == 255).all()
        assert (middle[waist + 2 :] == 0).all()
        assert figure.alpha[0, 0] == 0 and figure.alpha[-1, 0] == 0


def test_a_photo_without_a_face_is_refused() -> None:
    with pytest.raises(ValueError, match="no face"):
        photo_figure(np.full((400, 300, 3), 128, np.uint8))


def test_a_nearer_person_hides_a_farther_one(figures: dict) -> None:
    ahead = PersonPath([Waypoint(0.0, 2.0, 0.0)])
    near = PersonPath([Waypoint(0.0, 1.2, 0.0)])
    world = SimWorld(
        [SimPerson("obama", ahead, figures["obama"]), SimPerson("biden", near, figures["biden"])]
    )
    both = render(world, CameraModel())
    biden_only = render(SimWorld([SimPerson("biden", near, figures["biden"])]), CameraModel())
    # Where Biden's body is (the centre of the frame above his legs), only Biden is seen.
    assert (both[:240, 300:340] == biden_only[:240, 300:340]).all()
    assert (both != biden_only).any()  # Obama is there, beside him


@pytest.mark.parametrize(
    ("name", "distance_m", "bearing_deg"),
    [
        # Obama where the scenario has him (followed at ~1.8 m, first seen at 2 m, up to 2.1 m).
        ("obama", 1.8, 0.0),
        ("obama", 2.1, -12.0),
        ("obama", 2.0, 15.0),
        # Biden, nearer: his head leaves the top of the frame at 1.2 m, his body does not.
        ("biden", 1.3, 10.0),
        ("biden", 1.2, -20.0),
    ],
)
def test_the_real_mesh_sees_the_figures_as_people(
    real_mesh: LocalMesh, figures: dict, name: str, distance_m: float, bearing_deg: float
) -> None:
    world = alone(name, figures[name], distance_m, bearing_deg)
    model = CameraModel()
    truth = project_person(world, model)
    image = render(world, model)
    found = detections_from_proto(detect(real_mesh.address, encode_jpeg(image, 85)).detections)
    people = found[found.label == "person"]
    centres = (people.xyxy[:, 0] + people.xyxy[:, 2]) / 2.0
    assert np.any(np.abs(centres - truth.center_x_px) < 40), (name, distance_m, people.xyxy)
    faces = found[found.label == "face"]
    # Never another person's name (Biden's face may be above the frame this near).
    assert set(faces.data.get(IDENTITY, [])) <= {name, UNKNOWN}, faces.data
    if name == "obama":
        assert len(faces) == 1, faces.xyxy
        x1, y1, x2, y2 = faces.xyxy[0]
        assert abs((x1 + x2) / 2.0 - truth.center_x_px) < 20
        assert min(x2 - x1, y2 - y1) >= RECOGNISABLE_PX
        assert faces.data[IDENTITY][0] == "obama"  # from obama3.jpg; the gallery has obama.jpg
