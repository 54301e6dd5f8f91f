"""People enrolled from one photo are recognised in other photos of them; strangers are not.

The gallery holds obama.jpg and biden.jpg only. Every face the Haar cascade finds in the cases
below has a known truth (a person, or a stranger / a box that is not a face), and the engine
must answer the truth or "unknown": never another person's name.
"""

from __future__ import annotations

import numpy as np
import pytest
from face_photos import CASES, build_case, truth_of

from facedetection.engine import FaceEngine
from facerecognition.engine import RecognitionEngine
from facerecognition.enrolment import Enroller
from facerecognition.gallery import UNKNOWN
from liquidedge.detections import Detections


def identities(engine: RecognitionEngine, image: np.ndarray, faces: Detections) -> list[dict]:
    result = engine.recognize(image, faces)
    return [result.detections.attributes(i) for i in range(len(faces))]


@pytest.mark.parametrize(("case", "people"), CASES, ids=[c for c, _ in CASES])
def test_enrolled_people_recognised_strangers_unknown(
    case: str,
    people: set[str],
    engine: RecognitionEngine,
    photos: dict[str, np.ndarray],
    face_boxes: dict[str, np.ndarray],
    haar: FaceEngine,
) -> None:
    image, regions = build_case(case, photos, face_boxes)
    faces = haar.detect(image)
    answers = identities(engine, image, faces)
    seen = {}
    for box, answer in zip(faces.xyxy, answers, strict=True):
        truth = truth_of(box, regions)
        expected = truth if truth in people else UNKNOWN
        # Never a wrong name: the truth, or unknown.
        assert answer["identity"] in (expected, UNKNOWN), f"{case}: {truth}'s face at {box} called {answer}"
        if answer["identity"] == expected != UNKNOWN:
            seen[truth] = answer["distance"]
    # And every enrolled person in the case is recognised (the cascade finds them all here).
    assert set(seen) == people, f"{case}: recognised {seen}, expected {people}; answers {answers}"


def test_partial_faces_recognised_from_dlib_boxes(
    engine: RecognitionEngine, enroller: Enroller, photos: dict[str, np.ndarray]
) -> None:
    """Faces cut by the frame edge (the cascade misses them; dlib's detector does not)."""
    for name in ("obama_partial_face", "obama_partial_face2"):
        box = enroller.find_face(photos[name], name)
        faces = Detections(xyxy=[box], confidence=[1.0], label=["face"], engine=["face"])
        (answer,) = identities(engine, photos[name], faces)
        assert answer["identity"] == "obama", f"{name}: {answer}"


def test_every_box_carries_identity_distance_and_version(
    engine: RecognitionEngine, photos: dict[str, np.ndarray], haar: FaceEngine
) -> None:
    faces = haar.detect(photos["obama3"])
    result = engine.recognize(photos["obama3"], faces)
    version = engine.slot.version
    threshold = engine.settings.threshold
    identities = []
    for i in range(len(faces)):
        attributes = result.detections.attributes(i)
        assert attributes["gallery_version"] == version
        # The identity is the nearest enrolled person when within the threshold, else unknown.
        expected = "obama" if attributes["distance"] <= threshold else UNKNOWN
        assert attributes["identity"] == expected, attributes
        identities.append(attributes["identity"])
    assert "obama" in identities  # the photo's own face is one of them
    assert result.report.faces == len(faces) == result.report.recognised + result.report.strangers
    assert result.report.recognised == identities.count("obama")
    # The boxes themselves are the detector's, untouched.
    np.testing.assert_array_equal(result.detections.xyxy, faces.xyxy)
