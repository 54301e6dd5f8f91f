"""The aggregator's live view: the latest answered frame with its boxes drawn, faces named."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from liquidedge.detections import Detections
from liquidedge.drawing import draw_detections
from liquidedge.imaging import encode_jpeg


class LatestFrame:
    """Holds the newest frame and its detections; renders only when a viewer asks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jpeg: bytes | None = None
        self._found = Detections.empty()
        self._count = 0
        self._rendered: tuple[int, bytes] | None = None

    def observe(self, jpeg: bytes, found: Detections) -> None:
        with self._lock:
            self._jpeg, self._found = jpeg, found
            self._count += 1

    def render(self) -> bytes | None:
        with self._lock:
            jpeg, found, count, rendered = self._jpeg, self._found, self._count, self._rendered
        if jpeg is None:
            return None
        if rendered is not None and rendered[0] == count:
            return rendered[1]
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return None
        lines = [f"frame {count}  objects {len(found)}"]
        out = encode_jpeg(draw_detections(image, found, lines=lines))
        with self._lock:
            self._rendered = (count, out)
        return out
