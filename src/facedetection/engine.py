"""Haar cascade face engine: BGR image in, face `Detections` out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from liquidedge.detections import Detections
from liquidedge.engine import InstancePool
from liquidedge.imaging import center_colors

DEFAULT_CASCADE = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")


@dataclass(frozen=True)
class FaceSettings:
    """Knobs of `detectMultiScale`; the service's defaults.

    Measured on frames with known faces 40-200 px wide (`make face-tuning`, docs/cpu.md): the
    cheapest setting that finds every face the original demonstrator's settings find (1.3 / 3,
    full resolution) with no more false detections: there, about 0.55x its CPU per frame.
    OpenCV's usual 1.1 / 5 found no more faces for twice the CPU.
    """

    cascade_path: str = DEFAULT_CASCADE
    scale_factor: float = 1.25
    min_neighbors: int = 2
    # In full-frame pixels. 34 x 0.7 is the cascade's 24 px window: the smallest faces are
    # found on the first pyramid level of the shrunk copy.
    min_size: int = 34
    # Detect on a copy shrunk by this ratio (0 < ratio <= 1): fewer pixels per pyramid level,
    # faces from min_size pixels up still found.
    downscale: float = 0.7
    # Concurrent detections; each needs its own classifier instance.
    instances: int = 4

    def __post_init__(self) -> None:
        if self.scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be above 1.0, got {self.scale_factor}")
        if self.min_neighbors < 0:
            raise ValueError(f"min_neighbors must be >= 0, got {self.min_neighbors}")
        if self.min_size < 1:
            raise ValueError(f"min_size must be >= 1, got {self.min_size}")
        if not 0.0 < self.downscale <= 1.0:
            raise ValueError(f"downscale must be in (0, 1], got {self.downscale}")


def _load_cascade(path: str) -> cv2.CascadeClassifier:
    try:
        cascade = cv2.CascadeClassifier(path)
    except (cv2.error, SystemError) as error:  # malformed XML raises inside OpenCV's parser
        raise ValueError(f"could not load Haar cascade from {path}: not a cascade file ({error})") from error
    if cascade.empty():
        raise FileNotFoundError(f"could not load Haar cascade from {path}")
    return cascade


class FaceEngine:
    """Thread-safe Haar face detector with a real confidence per face.

    The confidence is the logistic of the cascade's final-stage weight
    (`detectMultiScale3(outputRejectLevels=True)`): faces that pass the last stage by a wide
    margin score near 1, borderline ones near 0.5.
    """

    name = "face"
    labels = ("face",)

    def __init__(self, settings: FaceSettings) -> None:
        self.settings = settings
        self._pool = InstancePool(lambda: _load_cascade(settings.cascade_path), settings.instances)

    def detect_batch(self, images_bgr: Sequence[np.ndarray]) -> list[Detections]:
        """Frames one after another (a cascade has no batch dimension): what a model slot calls."""
        return [self.detect(image) for image in images_bgr]

    def detect(self, image_bgr: np.ndarray, deadline: float | None = None) -> Detections:
        s = self.settings
        gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY) if image_bgr.ndim == 3 else image_bgr
        if s.downscale < 1.0:
            small_size = (
                max(1, round(gray.shape[1] * s.downscale)),
                max(1, round(gray.shape[0] * s.downscale)),
            )
            gray = cv2.resize(gray, small_size, interpolation=cv2.INTER_AREA)
        min_side = max(1, round(s.min_size * s.downscale))
        with self._pool.borrow() as cascade:
            rects, _levels, weights = cascade.detectMultiScale3(
                gray,
                scaleFactor=s.scale_factor,
                minNeighbors=s.min_neighbors,
                minSize=(min_side, min_side),
                outputRejectLevels=True,
            )
        if len(rects) == 0:
            return Detections.empty()
        xywh = np.asarray(rects, np.float32) / s.downscale
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        height, width = image_bgr.shape[:2]
        xyxy = np.clip(xyxy, 0, [width, height, width, height])
        confidence = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float64).reshape(-1)))
        n = len(xyxy)
        return Detections(
            xyxy=xyxy,
            confidence=confidence,
            label=np.full(n, "face", object),
            engine=np.full(n, self.name, object),
            color_rgb=center_colors(image_bgr, xyxy),
        )
