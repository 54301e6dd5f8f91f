"""One value type for detections, shared by every engine and service.

Engines return `Detections`; protobuf appears only at the service boundary. The arrays are
parallel (row i of each describes detection i) so filters are boolean masks, not loops.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np


def _as_array(values: object, dtype: type | np.dtype, shape_tail: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.size == 0:
        return array.reshape((0, *shape_tail))
    return array


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame.

    xyxy: (N, 4) float32, pixel corners x1, y1, x2, y2 in the frame as sent.
    confidence: (N,) float32 in 0..1.
    label: (N,) str, "face" or the class name.
    engine: (N,) str, which engine found each box.
    color_rgb: (N, 3) uint8, mean colour around each box centre.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    label: np.ndarray
    engine: np.ndarray
    color_rgb: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        xyxy = _as_array(self.xyxy, np.float32, (4,))
        n = len(xyxy)
        color = np.zeros((n, 3), np.uint8) if self.color_rgb is None else self.color_rgb
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", _as_array(self.confidence, np.float32, ()))
        object.__setattr__(self, "label", _as_array(self.label, object, ()))
        object.__setattr__(self, "engine", _as_array(self.engine, object, ()))
        object.__setattr__(self, "color_rgb", _as_array(color, np.uint8, (3,)))
        expected = {
            "xyxy": (n, 4),
            "confidence": (n,),
            "label": (n,),
            "engine": (n,),
            "color_rgb": (n, 3),
        }
        for name, shape in expected.items():
            actual = getattr(self, name).shape
            if actual != shape:
                raise ValueError(f"Detections.{name} must have shape {shape}, got {actual}")

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            label=self.label[index],
            engine=self.engine[index],
            color_rgb=self.color_rgb[index],
        )

    @classmethod
    def empty(cls) -> Detections:
        return cls(xyxy=np.zeros((0, 4)), confidence=[], label=[], engine=[])

    @classmethod
    def merge(cls, parts: Iterable[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            label=np.concatenate([p.label for p in parts]),
            engine=np.concatenate([p.engine for p in parts]),
            color_rgb=np.concatenate([p.color_rgb for p in parts]),
        )

    @property
    def xywh(self) -> np.ndarray:
        """Integer top-left corner and size, the form both wire protocols use."""
        x1y1 = np.floor(self.xyxy[:, :2])
        x2y2 = np.ceil(self.xyxy[:, 2:])
        return np.concatenate([x1y1, x2y2 - x1y1], axis=1).astype(np.int32)

    def with_colors(self, color_rgb: np.ndarray) -> Detections:
        return Detections(self.xyxy, self.confidence, self.label, self.engine, color_rgb)

    def filtered(
        self,
        *,
        min_confidence: float = 0.0,
        classes: Sequence[str] = (),
        max_results: int = 0,
    ) -> Detections:
        """Apply a client's filters: confidence floor, label set, then the top `max_results`."""
        keep = self.confidence >= min_confidence
        if classes:
            keep &= np.isin(self.label, list(classes))
        kept = self[keep]
        order = np.argsort(-kept.confidence, kind="stable")
        if max_results > 0:
            order = order[:max_results]
        return kept[order]
