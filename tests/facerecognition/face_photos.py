"""Helpers that turn the fetched photos into the frames the tests need."""

from __future__ import annotations

import cv2
import numpy as np

from facedetection.engine import FaceEngine


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
