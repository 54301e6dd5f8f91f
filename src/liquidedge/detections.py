"""One value type for detections, shared by every engine and service.

Engines return `Detections`; protobuf appears only at the service boundary. The arrays are
parallel (row i of each describes detection i) so filters are boolean masks, not loops.
Attributes that only some engines give (an identity, a track id, a model version) live in
`data`, a bag of per-box arrays, so a new attribute does not mean a new field threaded
through every layer: merge, filtering and the v1 protocol carry whatever the bag holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


def _as_array(values: object, dtype: type | np.dtype, shape_tail: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.size == 0:
        return array.reshape((0, *shape_tail))
    return array


def _as_attribute(values: object) -> np.ndarray:
    """A per-box attribute column: numbers stay numeric, anything else is kept as objects."""
    array = np.asarray(values)
    if array.dtype.kind in "biuf":
        return array
    return np.asarray(values, dtype=object)


def _merge_column(parts: Sequence[Detections], key: str) -> np.ndarray:
    """One attribute over merged parts; parts without it contribute None (NaN for numbers)."""
    columns = [p.data.get(key) for p in parts]
    present = [c for c in columns if c is not None]
    if len(present) == len(columns) and len({c.dtype.kind for c in present}) == 1:
        return np.concatenate(present)
    if all(c.dtype.kind == "f" for c in present):
        filled = [np.full(len(p), np.nan) if c is None else c for p, c in zip(parts, columns, strict=True)]
        return np.concatenate(filled)
    filled = [
        np.full(len(p), None, object) if c is None else c.astype(object)
        for p, c in zip(parts, columns, strict=True)
    ]
    return np.concatenate(filled)


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame.

    xyxy: (N, 4) float32, pixel corners x1, y1, x2, y2 in the frame as sent.
    confidence: (N,) float32 in 0..1.
    label: (N,) str, "face" or the class name.
    engine: (N,) str, which engine found each box.
    color_rgb: (N, 3) uint8, mean colour around each box centre.
    data: per-box attributes by name, each an (N,) array (e.g. "identity", "distance").
    meta: what holds for the whole answer, by name (e.g. "model_version" that produced it).
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    label: np.ndarray
    engine: np.ndarray
    color_rgb: np.ndarray = field(default=None)  # type: ignore[assignment]
    data: Mapping[str, np.ndarray] = field(default_factory=dict)
    meta: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = _as_array(self.xyxy, np.float32, (4,))
        n = len(xyxy)
        color = np.zeros((n, 3), np.uint8) if self.color_rgb is None else self.color_rgb
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", _as_array(self.confidence, np.float32, ()))
        object.__setattr__(self, "label", _as_array(self.label, object, ()))
        object.__setattr__(self, "engine", _as_array(self.engine, object, ()))
        object.__setattr__(self, "color_rgb", _as_array(color, np.uint8, (3,)))
        object.__setattr__(self, "data", {str(k): _as_attribute(v) for k, v in self.data.items()})
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
        for key, column in self.data.items():
            if column.shape != (n,):
                raise ValueError(f"Detections.data[{key!r}] must have shape {(n,)}, got {column.shape}")

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            label=self.label[index],
            engine=self.engine[index],
            color_rgb=self.color_rgb[index],
            data={key: column[index] for key, column in self.data.items()},
            meta=self.meta,
        )

    @classmethod
    def empty(cls) -> Detections:
        return cls(xyxy=np.zeros((0, 4)), confidence=[], label=[], engine=[])

    @classmethod
    def merge(cls, parts: Iterable[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        keys = list(dict.fromkeys(key for p in parts for key in p.data))
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            label=np.concatenate([p.label for p in parts]),
            engine=np.concatenate([p.engine for p in parts]),
            color_rgb=np.concatenate([p.color_rgb for p in parts]),
            data={key: _merge_column(parts, key) for key in keys},
        )

    @property
    def xywh(self) -> np.ndarray:
        """Integer top-left corner and size, the form both wire protocols use."""
        x1y1 = np.floor(self.xyxy[:, :2])
        x2y2 = np.ceil(self.xyxy[:, 2:])
        return np.concatenate([x1y1, x2y2 - x1y1], axis=1).astype(np.int32)

    def with_colors(self, color_rgb: np.ndarray) -> Detections:
        return replace(self, color_rgb=color_rgb)

    def with_data(self, **columns: Sequence[Any] | np.ndarray) -> Detections:
        """A copy with these per-box attributes added or replaced."""
        return replace(self, data={**self.data, **columns})

    def attributes(self, index: int) -> dict[str, Any]:
        """Box `index`'s attributes as plain Python values; missing ones (None, NaN) left out."""
        values: dict[str, Any] = {}
        for key, column in self.data.items():
            value = column[index]
            if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
                continue
            values[key] = value.item() if isinstance(value, np.generic) else value
        return values

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
