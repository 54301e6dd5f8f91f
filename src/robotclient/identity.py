"""Whose box is it: the names the mesh gives faces, passed on to the person boxes that hold them.

With recognition on, the mesh names every face it finds (v1 `Detection.attributes`:
`identity` is a name or "unknown", with `distance` and `gallery_version`), but never a person
box: YOLO does not know faces. The robot follows people, so once per answer, before
tracking, each face is given to the person box it fits best (inside the box, near its top
centre; one face per box), the box takes the face's identity, and the face is marked as held
by that box. The tracker then carries identities along tracks (`robotclient.tracker`) and
the target selector ranks them (`robotclient.target`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from liquidedge.detections import Detections

IDENTITY = "identity"
# What the mesh calls a face it could not name (a stranger, too small, turned away, late).
UNKNOWN = "unknown"
# On a face held by a bigger box: that box's label.
HELD_BY = "held_by"

# A face is a box's head when its centre is at most this far off the box's centre (in box
# widths) and its top at most this far below the box's top (in face heights): a person's
# face starts ~0.3 face heights below the top of the head, a photo figure's ~0.5.
MAX_HEAD_OFFSET = 0.3
MAX_HEAD_DROP = 0.8
# Larger than any fit: marks a face that cannot be a box's head.
_OUTSIDE = 1e6


def known_name(value: object) -> str | None:
    """The name an identity attribute gives, or None when it names nobody (unknown, missing)."""
    if isinstance(value, str) and value and value != UNKNOWN:
        return value
    return None


def recognised_names(detections: Detections) -> list[str | None]:
    """Per detection, the name recognised on it in this frame, or None."""
    column = detections.data.get(IDENTITY)
    if column is None:
        return [None] * len(detections)
    return [known_name(value) for value in column]


def head_fit(*, face_xyxy: np.ndarray, holder_xyxy: np.ndarray) -> np.ndarray:
    """Cost (faces x holders) of each face being the head of each box; `_OUTSIDE` where it cannot be.

    A head sits at the top of its person, centred: the cost adds the horizontal offset of the
    face's centre from the box's centre (in box widths) and the drop of the face's top below
    the box's top (in face heights). A face more than `MAX_HEAD_OFFSET` off centre or
    `MAX_HEAD_DROP` down is not that box's head: when a near person's box also covers a far
    person's face (or two people are one box while they cross), the far face is not the near
    person's, whatever else the box holds.
    """
    f_cx = (face_xyxy[:, None, 0] + face_xyxy[:, None, 2]) / 2.0
    f_top = face_xyxy[:, None, 1]
    f_height = np.maximum(face_xyxy[:, None, 3] - f_top, 1.0)
    h_x1, h_y1, h_x2, h_y2 = (holder_xyxy[None, :, k] for k in range(4))
    offset = np.abs(f_cx - (h_x1 + h_x2) / 2.0) / np.maximum(h_x2 - h_x1, 1.0)
    drop = np.abs(f_top - h_y1) / f_height
    fits = (offset <= MAX_HEAD_OFFSET) & (drop <= MAX_HEAD_DROP) & (f_top < h_y2)
    return np.where(fits, offset + drop, _OUTSIDE)


def attach_face_identities(
    detections: Detections, *, face_label: str = "face", holder_labels: Sequence[str] = ("person",)
) -> Detections:
    """A copy where each face's holder box has the face's identity and the face has `held_by`.

    Answers without identities (recognition off) come back as they are. The input is never
    changed. A holder without a face keeps whatever identity it had (usually none).
    """
    if IDENTITY not in detections.data or not len(detections):
        return detections
    faces = np.flatnonzero(detections.label == face_label)
    holders = np.flatnonzero(np.isin(detections.label, list(holder_labels)))
    identity = detections.data[IDENTITY].astype(object)
    held_by = np.full(len(detections), None, object)
    if len(faces) and len(holders):
        cost = head_fit(face_xyxy=detections.xyxy[faces], holder_xyxy=detections.xyxy[holders])
        for row, col in zip(*linear_sum_assignment(cost), strict=True):
            if cost[row, col] >= _OUTSIDE:
                continue
            face, holder = faces[row], holders[col]
            identity[holder] = identity[face]
            held_by[face] = detections.label[holder]
    return detections.with_data(**{IDENTITY: identity, HELD_BY: held_by})
