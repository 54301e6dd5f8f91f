"""Identity reuse along a face's track, so a face is not re-embedded on every frame.

One `IdentityTracker` per source (camera, robot stream): the caller creates it and passes it
in with each frame, so there is no global state and two robots never share tracks. Boxes are
matched to tracks by IoU (greedy, best overlap first). A track's identity is reused only while
it is sound to: the identity came from an embedding against the same gallery version, fewer
than `recheck_every` frames ago, the box has not changed much since that embedding, and the
face still looks the same: a tiny blurred grey thumbnail (`appearance`) compared with the one
taken when it was embedded, which catches another person stepping into the same place. A
wrong reuse test costs an extra embedding, never a wrong name; `recheck_every` bounds the rest.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

# Side of the appearance thumbnail: measured on the test photos, 6x6 keeps a face shifted by
# 5% of its box at >= 0.8 similarity while different people stay <= 0.61.
_APPEARANCE_SIDE = 6


def appearance(image_bgr: np.ndarray, box_xyxy: np.ndarray) -> np.ndarray:
    """A face's zero-mean, unit-norm 6x6 grey thumbnail: cheap (~20 us) and blind to brightness."""
    height, width = image_bgr.shape[:2]
    x1, y1 = max(0, int(box_xyxy[0])), max(0, int(box_xyxy[1]))
    x2, y2 = min(width, int(np.ceil(box_xyxy[2]))), min(height, int(np.ceil(box_xyxy[3])))
    crop = image_bgr[y1:y2, x1:x2]
    if crop.size == 0:
        return np.zeros(_APPEARANCE_SIDE * _APPEARANCE_SIDE, np.float32)
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    thumb = cv2.resize(grey, (_APPEARANCE_SIDE, _APPEARANCE_SIDE), interpolation=cv2.INTER_AREA)
    vector = thumb.astype(np.float32).ravel()
    vector -= vector.mean()
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union, shape (len(a), len(b))."""
    a = np.asarray(a_xyxy, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b_xyxy, np.float64).reshape(-1, 4)[None, :, :]
    wh = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass(frozen=True)
class KnownIdentity:
    """What an embedding said about a track's face, and when."""

    name: str
    distance: float
    gallery_version: str
    frame: int
    box_xyxy: tuple[float, float, float, float]
    appearance: np.ndarray | None


@dataclass
class _Track:
    track_id: int
    box_xyxy: np.ndarray
    last_seen: int
    appearance: np.ndarray | None = None
    identity: KnownIdentity | None = None


@dataclass(frozen=True)
class TrackSlot:
    """One box's track this frame and, when sound, the identity it may reuse."""

    track_id: int
    reusable: KnownIdentity | None


class IdentityTracker:
    def __init__(
        self,
        *,
        match_iou: float = 0.3,
        changed_iou: float = 0.6,
        same_appearance: float = 0.7,
        recheck_every: int = 10,
        max_missed: int = 5,
    ) -> None:
        if not 0.0 < match_iou <= 1.0 or not 0.0 < changed_iou <= 1.0:
            raise ValueError("IoU thresholds must be in (0, 1]")
        if recheck_every < 1 or max_missed < 0:
            raise ValueError("recheck_every must be >= 1 and max_missed >= 0")
        self.match_iou = match_iou
        self.changed_iou = changed_iou
        self.same_appearance = same_appearance
        self.recheck_every = recheck_every
        self.max_missed = max_missed
        self._tracks: list[_Track] = []
        self._frame = 0
        self._next_id = 1
        self._lock = threading.Lock()

    def step(
        self,
        boxes_xyxy: np.ndarray,
        gallery_version: str | None,
        appearances: list[np.ndarray | None] | None = None,
    ) -> list[TrackSlot]:
        """Advance one frame: match `boxes_xyxy` to tracks, start new ones, drop lost ones.

        `appearances[i]` (from `appearance()`, or None) is box i's look this frame; without
        one, reuse rests on the boxes alone.
        """
        boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        looks = appearances if appearances is not None else [None] * len(boxes)
        with self._lock:
            self._frame += 1
            assigned = self._assign(boxes)
            slots = []
            for i, box in enumerate(boxes):
                track = assigned.get(i)
                if track is None:
                    track = _Track(self._next_id, box, self._frame)
                    self._next_id += 1
                    self._tracks.append(track)
                track.box_xyxy = box
                track.last_seen = self._frame
                track.appearance = looks[i]
                slots.append(TrackSlot(track.track_id, self._reusable(track, box, gallery_version)))
            self._tracks = [t for t in self._tracks if self._frame - t.last_seen <= self.max_missed]
            return slots

    def record(self, track_id: int, name: str, distance: float, gallery_version: str) -> None:
        """Remember what an embedding on this frame said about `track_id`'s face."""
        with self._lock:
            for track in self._tracks:
                if track.track_id == track_id:
                    x1, y1, x2, y2 = (float(v) for v in track.box_xyxy)
                    track.identity = KnownIdentity(
                        name, distance, gallery_version, self._frame, (x1, y1, x2, y2), track.appearance
                    )
                    return

    def _assign(self, boxes: np.ndarray) -> dict[int, _Track]:
        if not len(boxes) or not self._tracks:
            return {}
        overlaps = iou_matrix(boxes, np.stack([t.box_xyxy for t in self._tracks]))
        assigned: dict[int, _Track] = {}
        used: set[int] = set()
        for flat in np.argsort(-overlaps, axis=None):
            box_i, track_i = (int(v) for v in np.unravel_index(flat, overlaps.shape))
            if overlaps[box_i, track_i] < self.match_iou:
                break
            if box_i in assigned or track_i in used:
                continue
            assigned[box_i] = self._tracks[track_i]
            used.add(track_i)
        return assigned

    def _reusable(self, track: _Track, box: np.ndarray, gallery_version: str | None) -> KnownIdentity | None:
        known = track.identity
        if known is None or gallery_version is None or known.gallery_version != gallery_version:
            return None
        if self._frame - known.frame >= self.recheck_every:
            return None
        if iou_matrix(box, np.asarray(known.box_xyxy))[0, 0] < self.changed_iou:
            return None
        looks_changed = (
            known.appearance is not None
            and track.appearance is not None
            and float(known.appearance @ track.appearance) < self.same_appearance
        )
        return None if looks_changed else known
