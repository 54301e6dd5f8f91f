"""Do two runs of a detector agree? The acceptance rule for reduced-precision versions.

A BF16 or INT8 version is accepted only if its detections agree with FP32's on images it was
not calibrated on: every FP32 box should have a box of the same class at IoU >= 0.8 in the
candidate's answer (at least 95% of them must), and no more than a few boxes may appear or
vanish (a score that sat right at the threshold can tip either way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liquidedge.detections import Detections

MIN_IOU = 0.8
MIN_AGREEING = 0.95
MAX_CHANGED = 3
# Below this IoU a box has no counterpart at all: it was lost (or gained).
COUNTERPART_IOU = 0.5


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, float(x2 - x1)) * max(0.0, float(y2 - y1))
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Agreement:
    """Figures of a candidate against a reference over the same images."""

    images: int
    reference_boxes: int
    candidate_boxes: int
    agreeing: int  # reference boxes with a same-class candidate at IoU >= MIN_IOU
    lost: int  # reference boxes with no same-class candidate at IoU >= COUNTERPART_IOU
    gained: int  # candidate boxes with no same-class reference at IoU >= COUNTERPART_IOU
    mean_iou: float  # over reference boxes that have a counterpart
    max_score_diff: float  # between counterparts

    @property
    def agreeing_fraction(self) -> float:
        return self.agreeing / self.reference_boxes if self.reference_boxes else 1.0

    def accepted(self, *, min_agreeing: float = MIN_AGREEING, max_changed: int = MAX_CHANGED) -> bool:
        return (
            self.reference_boxes > 0
            and self.agreeing_fraction >= min_agreeing
            and self.lost + self.gained <= max_changed
        )

    def summary(self) -> str:
        return (
            f"{self.images} images, {self.reference_boxes} reference boxes, {self.candidate_boxes} candidate "
            f"boxes: {self.agreeing_fraction:.1%} at IoU >= {MIN_IOU} same class, {self.lost} lost, "
            f"{self.gained} gained, mean IoU {self.mean_iou:.3f}, largest score change {self.max_score_diff:.3f}"
        )


def _match(reference: Detections, candidate: Detections) -> tuple[list[float], list[float], set[int]]:
    """Greedy, most confident reference box first: (IoUs, score changes, unused candidates)."""
    unused = set(range(len(candidate)))
    ious: list[float] = []
    score_diffs: list[float] = []
    for i in np.argsort(-reference.confidence, kind="stable"):
        best, best_j = 0.0, -1
        for j in unused:
            if candidate.label[j] != reference.label[i]:
                continue
            value = box_iou(reference.xyxy[i], candidate.xyxy[j])
            if value > best:
                best, best_j = value, j
        if best_j >= 0 and best >= COUNTERPART_IOU:
            unused.discard(best_j)
            score_diffs.append(abs(float(reference.confidence[i]) - float(candidate.confidence[best_j])))
        ious.append(best if best >= COUNTERPART_IOU else 0.0)
    return ious, score_diffs, unused


def compare(reference: Sequence[Detections], candidate: Sequence[Detections]) -> Agreement:
    """Image by image (same order), the candidate's boxes against the reference's."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference answers but {len(candidate)} candidate answers")
    all_ious: list[float] = []
    diffs: list[float] = []
    gained = 0
    for ref, cand in zip(reference, candidate, strict=True):
        ious, score_diffs, unused = _match(ref, cand)
        all_ious += ious
        diffs += score_diffs
        gained += len(unused)
    matched = [value for value in all_ious if value > 0.0]
    return Agreement(
        images=len(reference),
        reference_boxes=len(all_ious),
        candidate_boxes=sum(len(c) for c in candidate),
        agreeing=sum(value >= MIN_IOU for value in all_ious),
        lost=len(all_ious) - len(matched),
        gained=gained,
        mean_iou=float(np.mean(matched)) if matched else 0.0,
        max_score_diff=max(diffs, default=0.0),
    )
