"""YOLO engine: BGR images in, object `Detections` out, any backend underneath."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from liquidedge.detections import Detections
from liquidedge.imaging import center_colors
from yolodetection.backends import Backend
from yolodetection.postprocess import decode_yolo_rows


@dataclass(frozen=True)
class YoloSettings:
    score_threshold: float = 0.25
    nms_threshold: float = 0.45

    def __post_init__(self) -> None:
        for name in ("score_threshold", "nms_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")


def make_blob(images_bgr: Sequence[np.ndarray], input_wh: tuple[int, int]) -> np.ndarray:
    """Darknet's input: RGB, scaled to 0..1, resized (not letterboxed) to the network size."""
    return cv2.dnn.blobFromImages(list(images_bgr), 1.0 / 255.0, input_wh, swapRB=True, crop=False)


class YoloEngine:
    name = "yolo"

    def __init__(
        self,
        backend: Backend,
        class_names: Sequence[str],
        input_wh: tuple[int, int],
        settings: YoloSettings,
    ) -> None:
        self.backend = backend
        self.class_names = tuple(class_names)
        self.labels = self.class_names
        self.input_wh = input_wh
        self.settings = settings

    def warm_up(self) -> None:
        """Run one blank frame so the first robot frame does not pay for lazy initialisation."""
        self.detect_batch([np.zeros((self.input_wh[1], self.input_wh[0], 3), np.uint8)])

    def detect(self, image_bgr: np.ndarray, deadline: float | None = None) -> Detections:
        return self.detect_batch([image_bgr])[0]

    def close(self) -> None:
        """Free the network now (a replaced model version, once no frame runs on it any more)."""
        close_backend = getattr(self.backend, "close", None)
        if close_backend is not None:
            close_backend()

    def detect_batch(self, images_bgr: Sequence[np.ndarray]) -> list[Detections]:
        """One forward pass for many frames; answers come back in the order given."""
        if not images_bgr:
            return []
        outputs = self.backend.forward(make_blob(images_bgr, self.input_wh))
        return [
            self._postprocess(image, [layer[i] for layer in outputs]) for i, image in enumerate(images_bgr)
        ]

    def _postprocess(self, image_bgr: np.ndarray, rows: list[np.ndarray]) -> Detections:
        height, width = image_bgr.shape[:2]
        found = decode_yolo_rows(
            rows,
            image_wh=(width, height),
            class_names=self.class_names,
            score_threshold=self.settings.score_threshold,
            nms_threshold=self.settings.nms_threshold,
            engine_name=self.name,
        )
        return found.with_colors(center_colors(image_bgr, found.xyxy))
