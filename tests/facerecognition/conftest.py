"""Real photos and real dlib models for the recognition tests.

The photos are the ones `make recognition-models` fetches from the face_recognition 1.3.0
source package (three photos of Obama, one of Biden, two partial faces), plus scikit-image's
astronaut as a stranger. Models and embeddings are session-scoped: one embedding costs
~85 ms of CPU, so the whole suite embeds a few dozen faces at most.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from face_photos import head

from facedetection.engine import FaceEngine, FaceSettings
from facerecognition.embedder import FaceAligner, LocalEmbedder
from facerecognition.engine import RecognitionEngine, RecognitionSettings, gallery_slot
from facerecognition.enrolment import (
    Enroller,
    EnrolmentError,
    FaceTooSmallError,
    MultipleFacesError,
    NoFaceError,
    Photo,
    UnreadablePhotoError,
)
from facerecognition.gallery import Gallery
from facerecognition.model_files import RecognitionModelFiles, photo_dir
from liquidedge.imaging import encode_jpeg

REPO = Path(__file__).resolve().parents[2]
PHOTO_NAMES = ("obama", "obama2", "obama3", "biden", "obama_partial_face", "obama_partial_face2")


@pytest.fixture(scope="session")
def recognition_dir() -> Path:
    path = Path(os.environ.get("LIQUIDEDGE_MODEL_DIR", REPO / "models"))
    files = RecognitionModelFiles.in_dir(path)
    if not (
        files.predictor.is_file() and files.resnet.is_file() and (photo_dir(path) / "obama.jpg").is_file()
    ):
        pytest.fail(
            f"dlib models or photos missing from {path}: run `make recognition-models` (make test does it)"
        )
    return path


@pytest.fixture(scope="session")
def recognition_files(recognition_dir: Path) -> RecognitionModelFiles:
    return RecognitionModelFiles.in_dir(recognition_dir)


@pytest.fixture(scope="session")
def photo_bytes(recognition_dir: Path) -> dict[str, bytes]:
    return {name: (photo_dir(recognition_dir) / f"{name}.jpg").read_bytes() for name in PHOTO_NAMES}


@pytest.fixture(scope="session")
def photos(photo_bytes: dict[str, bytes]) -> dict[str, np.ndarray]:
    images = {
        name: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        for name, data in photo_bytes.items()
    }
    images["astronaut"] = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    return images


@pytest.fixture(scope="session")
def aligner(recognition_files: RecognitionModelFiles) -> FaceAligner:
    return FaceAligner(recognition_files.predictor)


@pytest.fixture(scope="session")
def embedder(recognition_files: RecognitionModelFiles) -> LocalEmbedder:
    return LocalEmbedder(recognition_files.resnet)


@pytest.fixture(scope="session")
def enroller(
    aligner: FaceAligner, embedder: LocalEmbedder, recognition_files: RecognitionModelFiles
) -> Enroller:
    return Enroller(aligner, embedder, recognition_files.model_id)


@pytest.fixture(scope="session")
def default_gallery(enroller: Enroller, photo_bytes: dict[str, bytes]) -> Gallery:
    """Obama and Biden, one photo each: obama.jpg and biden.jpg (as `make gallery-default`)."""
    people = {name: [Photo(f"{name}.jpg", photo_bytes[name])] for name in ("obama", "biden")}
    return enroller.build(people)


@pytest.fixture(scope="session")
def haar() -> FaceEngine:
    return FaceEngine(FaceSettings(instances=1))


@pytest.fixture(scope="session")
def face_boxes(haar: FaceEngine, photos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The Haar cascade's largest face in each photo it finds one in (computed once)."""
    boxes = {}
    for name, image in photos.items():
        faces = haar.detect(image)
        if len(faces):
            boxes[name] = faces.xyxy[int(np.argmax(faces.xyxy[:, 2] - faces.xyxy[:, 0]))]
    return boxes


@pytest.fixture
def engine(
    aligner: FaceAligner,
    embedder: LocalEmbedder,
    default_gallery: Gallery,
    recognition_files: RecognitionModelFiles,
) -> Iterator[RecognitionEngine]:
    yield RecognitionEngine(aligner, embedder, gallery_slot(default_gallery), RecognitionSettings(workers=0))


def side_by_side(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    height = max(a.shape[0], b.shape[0])
    canvas = np.zeros((height, a.shape[1] + b.shape[1], 3), np.uint8)
    canvas[: a.shape[0], : a.shape[1]] = a
    canvas[: b.shape[0], a.shape[1] :] = b
    return canvas


@pytest.fixture(scope="session")
def refusals(
    photos: dict[str, np.ndarray], face_boxes: dict[str, np.ndarray]
) -> dict[str, tuple[bytes, type[EnrolmentError]]]:
    """Photos enrolment refuses, each with the exception that says why."""
    return {
        # a photo of a cup of coffee
        "no-face": (encode_jpeg(cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR), 90), NoFaceError),
        # two people, both with faces big enough: which one is meant?
        "two-faces": (
            encode_jpeg(
                side_by_side(
                    head(photos["obama"], face_boxes["obama"], 150),
                    head(photos["biden"], face_boxes["biden"], 150),
                ),
                90,
            ),
            MultipleFacesError,
        ),
        # one face, 60 px: found, but under the 80 px enrolment minimum
        "too-small": (
            encode_jpeg(head(photos["obama"], face_boxes["obama"], 60, margin=1.0), 90),
            FaceTooSmallError,
        ),
        # not an image at all
        "unreadable": (b"GIF89a not really", UnreadablePhotoError),
    }
