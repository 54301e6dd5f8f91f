"""Multi-object tracker: stable ids across frames for the boxes the mesh returns.

Each frame's detections are matched to the existing tracks by an optimal assignment
(`scipy.optimize.linear_sum_assignment`) over a cost that adds position, size and colour
distances. Only boxes with the same label may match. A track that finds no match coasts for up
to `max_missed` frames before it is dropped; time is counted in frames, not seconds, so the
tracker behaves the same at 5 and at 30 frames per second of answers.

Tracks carry the attributes of their latest detection (`Detections.data`), except that an
identity is held: once a track is known to be someone, a frame where the face is not
recognised (turned away, too small, recognition late: "unknown" or no identity) leaves the
name on the track, and only another name replaces it. A name is one person: when it is
recognised afresh on one track, other tracks of the same label that merely held it lose it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from liquidedge.detections import Detections
from robotclient.identity import IDENTITY, known_name, recognised_names

# Larger than any gated cost: marks pairs that may never match (different labels).
_FORBIDDEN = 1e6


@dataclass(frozen=True)
class TrackerSettings:
    """Named thresholds of the tracker; defaults suit a person at 1-5 m with a 62 degree camera."""

    # Frames a track survives without a matching detection.
    max_missed: int = 5
    # Weight of a new measurement in the exponential smoothing (1.0 = no smoothing).
    smoothing: float = 0.7
    # Cost weights: centre distance in box diagonals, |log| size ratio, colour distance (0..1).
    position_weight: float = 1.0
    size_weight: float = 0.5
    color_weight: float = 0.5
    # A pair costing more than this is not the same object.
    max_cost: float = 1.5
    # Detections below this confidence neither start nor update tracks.
    min_confidence: float = 0.0

    def __post_init__(self) -> None:
        if self.max_missed < 0:
            raise ValueError(f"max_missed must be >= 0, got {self.max_missed}")
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {self.smoothing}")
        if self.max_cost <= 0:
            raise ValueError(f"max_cost must be positive, got {self.max_cost}")
        for name in ("position_weight", "size_weight", "color_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class Track:
    """A tracked object as of the latest update. Immutable: the tracker returns new ones."""

    track_id: int
    label: str
    xyxy: tuple[float, float, float, float]
    color_rgb: tuple[float, float, float]
    confidence: float
    hits: int = 1
    missed: int = 0
    # Attributes of the latest detection (identity held as the module says); never mutated.
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def identity(self) -> str | None:
        """Who the track is known to be, or None."""
        return known_name(self.attributes.get(IDENTITY))

    @property
    def visible(self) -> bool:
        """Matched in the latest frame (not coasting on its last position)."""
        return self.missed == 0

    @property
    def center_xy(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.xyxy
        return (x1 + x2) / 2.0, (y1 + y2) / 2.0

    @property
    def size_wh(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.xyxy
        return x2 - x1, y2 - y1

    @property
    def area(self) -> float:
        width, height = self.size_wh
        return max(0.0, width) * max(0.0, height)


def match_cost(
    *,
    track_xyxy: np.ndarray,
    track_rgb: np.ndarray,
    track_label: np.ndarray,
    det_xyxy: np.ndarray,
    det_rgb: np.ndarray,
    det_label: np.ndarray,
    settings: TrackerSettings,
) -> np.ndarray:
    """Cost matrix (tracks x detections); pairs with different labels cost `_FORBIDDEN`."""
    t_center = (track_xyxy[:, None, :2] + track_xyxy[:, None, 2:]) / 2.0
    d_center = (det_xyxy[None, :, :2] + det_xyxy[None, :, 2:]) / 2.0
    t_wh = np.maximum(track_xyxy[:, None, 2:] - track_xyxy[:, None, :2], 1.0)
    d_wh = np.maximum(det_xyxy[None, :, 2:] - det_xyxy[None, :, :2], 1.0)
    # Distances are measured in units of the track's diagonal, so near and far people gate alike.
    diagonal = np.hypot(t_wh[..., 0], t_wh[..., 1])
    position = np.hypot(*(t_center - d_center).transpose(2, 0, 1)) / diagonal
    size = np.abs(np.log(d_wh / t_wh)).sum(axis=-1)
    color = np.linalg.norm(track_rgb[:, None, :] - det_rgb[None, :, :], axis=-1) / (255.0 * np.sqrt(3.0))
    cost = settings.position_weight * position + settings.size_weight * size + settings.color_weight * color
    return np.where(track_label[:, None] == det_label[None, :], cost, _FORBIDDEN)


class Tracker:
    """Keeps tracks across frames. `update` never mutates its input or tracks it returned before."""

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self._tracks: list[Track] = []
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks)

    def reset(self) -> None:
        """Forget every track; ids keep counting up so an old id is never reused."""
        self._tracks = []

    def update(self, detections: Detections) -> list[Track]:
        """Match one frame's detections to the tracks; return the tracks alive after it."""
        s = self.settings
        detections = detections[detections.confidence >= s.min_confidence]
        matches: list[tuple[int, int]] = []
        if self._tracks and len(detections):
            cost = match_cost(
                track_xyxy=np.array([t.xyxy for t in self._tracks], np.float64),
                track_rgb=np.array([t.color_rgb for t in self._tracks], np.float64),
                track_label=np.array([t.label for t in self._tracks], object),
                det_xyxy=detections.xyxy.astype(np.float64),
                det_rgb=detections.color_rgb.astype(np.float64),
                det_label=detections.label,
                settings=s,
            )
            rows, cols = linear_sum_assignment(cost)
            matches = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] <= s.max_cost]
        matched_tracks = {r for r, _ in matches}
        matched_dets = {c for _, c in matches}

        names = recognised_names(detections)
        fresh: dict[int, str] = {}  # track id -> the name recognised on it in this frame
        updated: list[Track] = []
        for row, col in matches:
            updated.append(self._absorb(self._tracks[row], detections, col))
            if names[col] is not None:
                fresh[updated[-1].track_id] = names[col]
        for row, track in enumerate(self._tracks):
            if row not in matched_tracks and track.missed < s.max_missed:
                updated.append(replace(track, missed=track.missed + 1))
        for col in range(len(detections)):
            if col not in matched_dets:
                updated.append(self._start(detections, col))
                if names[col] is not None:
                    fresh[updated[-1].track_id] = names[col]
        if fresh:
            updated = _release_stale_names(updated, fresh)
        updated.sort(key=lambda t: t.track_id)
        self._tracks = updated
        return list(updated)

    def _absorb(self, track: Track, detections: Detections, col: int) -> Track:
        alpha = self.settings.smoothing
        old = np.array(track.xyxy, np.float64)
        new = detections.xyxy[col].astype(np.float64)
        old_rgb = np.array(track.color_rgb, np.float64)
        new_rgb = detections.color_rgb[col].astype(np.float64)
        return replace(
            track,
            xyxy=tuple(float(v) for v in alpha * new + (1.0 - alpha) * old),
            color_rgb=tuple(float(v) for v in alpha * new_rgb + (1.0 - alpha) * old_rgb),
            confidence=float(detections.confidence[col]),
            hits=track.hits + 1,
            missed=0,
            attributes=_held_attributes(track, detections.attributes(col)),
        )

    def _start(self, detections: Detections, col: int) -> Track:
        track = Track(
            track_id=self._next_id,
            label=str(detections.label[col]),
            xyxy=tuple(float(v) for v in detections.xyxy[col]),
            color_rgb=tuple(float(v) for v in detections.color_rgb[col]),
            confidence=float(detections.confidence[col]),
            attributes=detections.attributes(col),
        )
        self._next_id += 1
        return track


def _held_attributes(track: Track, latest: dict[str, Any]) -> dict[str, Any]:
    """The latest detection's attributes, keeping the track's name when they name nobody."""
    if known_name(latest.get(IDENTITY)) is None and track.identity is not None:
        return {**latest, IDENTITY: track.attributes[IDENTITY]}
    return latest


def _release_stale_names(tracks: list[Track], fresh: dict[int, str]) -> list[Track]:
    """Tracks that only held a name recognised afresh on another track of their label lose it."""
    recognised = {(t.label, fresh[t.track_id]) for t in tracks if t.track_id in fresh}
    released = []
    for track in tracks:
        if track.track_id not in fresh and (track.label, track.identity) in recognised:
            attributes = {k: v for k, v in track.attributes.items() if k != IDENTITY}
            track = replace(track, attributes=attributes)
        released.append(track)
    return released
