"""Annotated frames drawn on the server, for `/video_feed` and the per-camera MJPEG streams.

The dashboard draws its own boxes in the browser (crisp at any size); these server-drawn
JPEGs serve old bookmarks and tools that only show an MJPEG URL. Rendering happens only when
someone watches, and each answered frame is drawn once however many people watch it.
"""

from __future__ import annotations

import math
import threading
import weakref

import cv2
import numpy as np

from cameragateway.camera import Answer, Camera
from liquidedge.drawing import draw_detections
from liquidedge.imaging import encode_jpeg

TILE_WH = (480, 360)
_BADGE_BGR = {"online": (80, 200, 80), "degraded": (0, 170, 255), "offline": (60, 60, 230)}


def _decode(jpeg: bytes) -> np.ndarray | None:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def annotated_image(answer: Answer) -> np.ndarray | None:
    image = _decode(answer.frame.jpeg)
    if image is None:
        return None
    return draw_detections(image, answer.detections)  # a recognised face carries its name


class Annotator:
    """Annotated JPEGs per camera, cached by frame number."""

    def __init__(self, quality: int = 80) -> None:
        self.quality = quality
        self._lock = threading.Lock()
        # Keyed by the camera itself: a removed camera's entry goes when the camera does.
        self._cache: weakref.WeakKeyDictionary[Camera, tuple[int, np.ndarray, bytes]] = (
            weakref.WeakKeyDictionary()
        )

    def _image(self, camera: Camera) -> tuple[np.ndarray, bytes] | None:
        answer = camera.answer()
        if answer is None:
            return None
        with self._lock:
            cached = self._cache.get(camera)
        if cached is not None and cached[0] == answer.frame.number:
            return cached[1], cached[2]
        image = annotated_image(answer)
        if image is None:
            return None
        jpeg = encode_jpeg(image, self.quality)
        with self._lock:
            self._cache[camera] = (answer.frame.number, image, jpeg)
        return image, jpeg

    def jpeg(self, camera: Camera) -> bytes | None:
        found = self._image(camera)
        return None if found is None else found[1]

    def mosaic(self, cameras: list[Camera]) -> bytes:
        """All cameras in a grid, each tile titled with its id and state: `/video_feed`."""
        count = max(1, len(cameras))
        cols = math.ceil(math.sqrt(count))
        rows = math.ceil(count / cols)
        w, h = TILE_WH
        canvas = np.full((rows * h, cols * w, 3), 18, np.uint8)
        for index, camera in enumerate(sorted(cameras, key=lambda c: c.id)):
            x, y = (index % cols) * w, (index // cols) * h
            found = self._image(camera)
            if found is not None:
                canvas[y : y + h, x : x + w] = cv2.resize(found[0], TILE_WH, interpolation=cv2.INTER_AREA)
            state, _why = camera.state()
            cv2.rectangle(canvas, (x, y), (x + w - 1, y + 22), (0, 0, 0), -1)
            cv2.circle(canvas, (x + 11, y + 11), 6, _BADGE_BGR[state], -1)
            cv2.putText(
                canvas,
                f"{camera.id}  {state}",
                (x + 22, y + 16),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (235, 235, 235),
                1,
                cv2.LINE_AA,
            )
        if not cameras:
            cv2.putText(
                canvas,
                "no cameras registered",
                (20, h // 2),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.8,
                (200, 200, 200),
                1,
                cv2.LINE_AA,
            )
        return encode_jpeg(canvas, self.quality)
