"""Helpers that turn the fetched photos into the frames the tests need."""

from __future__ import annotations

import cv2
import numpy as np

from facedetection.engine import FaceEngine
from facerecognition.gallery import UNKNOWN


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """The image after a JPEG round trip at `quality` (what a robot's camera stream does)."""
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buffer, cv2.IMREAD_COLOR)


def largest_face(haar: FaceEngine, image: np.ndarray) -> np.ndarray:
    faces = haar.detect(image)
    assert len(faces), "the Haar cascade found no face in a photo that has one"
    sides = faces.xyxy[:, 2] - faces.xyxy[:, 0]
    return faces.xyxy[int(np.argmax(sides))]


def head(image: np.ndarray, box: np.ndarray, face_side: int, margin: float = 0.6) -> np.ndarray:
    """The face in `box` with `margin` of its side around it, scaled so the face is `face_side` px."""
    x1, y1, x2, y2 = box
    side = x2 - x1
    height, width = image.shape[:2]
    crop = image[
        int(max(0, y1 - margin * side)) : int(min(height, y2 + margin * side)),
        int(max(0, x1 - margin * side)) : int(min(width, x2 + margin * side)),
    ]
    scale = face_side / side
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


FRAME_W, FRAME_H = 640, 480


def darker(image: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def placed(
    parts: list[tuple[str, np.ndarray, tuple[int, int]]],
) -> tuple[np.ndarray, dict[str, tuple[int, int, int, int]]]:
    """A 640x480 grey frame with each head pasted at (x, y); returns the frame and each region."""
    frame = np.full((FRAME_H, FRAME_W, 3), 90, np.uint8)
    regions = {}
    for name, image, (x, y) in parts:
        h, w = min(image.shape[0], FRAME_H - y), min(image.shape[1], FRAME_W - x)
        frame[y : y + h, x : x + w] = image[:h, :w]
        regions[name] = (x, y, x + w, y + h)
    return frame, regions


def truth_of(box: np.ndarray, regions: dict[str, tuple[int, int, int, int]]) -> str:
    """Whose region holds the box centre; a box elsewhere is not a person (must be unknown)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for name, (x1, y1, x2, y2) in regions.items():
        if x1 <= cx < x2 and y1 <= cy < y2:
            return name
    return UNKNOWN


# (case, the people whose truth is a name; everyone else in the case is a stranger)
CASES = [
    # another photo, other pose and lighting (speaking, flag behind)
    ("obama2", {"obama"}),
    # another photo, full figure: the face is one of two Haar boxes (the other is not a face)
    ("obama3", {"obama"}),
    # a stranger alone
    ("astronaut", set()),
    # Biden (only one photo exists): mirrored, 40% darker, 70 px face, JPEG quality 50
    ("biden-altered", {"biden"}),
    # 640x480 frame, JPEG quality 50: Obama (other photo), Biden (mirrored, darker), a stranger
    ("frame-of-three", {"obama", "biden"}),
    # the same frame with the faces at 64 px (just above the engine's 60 px minimum)
    ("frame-small-faces", {"obama", "biden"}),
]


def build_case(
    case: str, photos: dict[str, np.ndarray], boxes: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict]:
    """The image of `case` and the region each true identity occupies in it."""
    if case in ("obama2", "obama3"):
        return photos[case], {"obama": (0, 0, *photos[case].shape[1::-1])}
    if case == "astronaut":
        return photos[case], {"astronaut": (0, 0, *photos[case].shape[1::-1])}
    if case == "biden-altered":
        altered = jpeg(cv2.flip(darker(head(photos["biden"], boxes["biden"], 70), 0.6), 1), 50)
        return altered, {"biden": (0, 0, *altered.shape[1::-1])}
    side = 100 if case == "frame-of-three" else 64
    frame, regions = placed(
        [
            ("obama", head(photos["obama2"], boxes["obama2"], side), (10, 60)),
            ("biden", cv2.flip(darker(head(photos["biden"], boxes["biden"], side), 0.7), 1), (230, 150)),
            ("astronaut", head(photos["astronaut"], boxes["astronaut"], side), (420, 40)),
        ]
    )
    return jpeg(frame, 50), regions
