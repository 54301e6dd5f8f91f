"""Draw detections on a frame for live views (aggregator on 8088, robot on 9088)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import cv2
import numpy as np

from liquidedge.detections import Detections
from liquidedge.messages import recognised_name


def label_color_bgr(label: str) -> tuple[int, int, int]:
    """A stable, distinct colour per label, so 'person' looks the same on every frame."""
    hue = zlib.crc32(label.encode()) % 180
    hsv = np.uint8([[[hue, 200, 255]]])
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def caption(label: str, confidence: float, identity: object = None) -> str:
    """`person 0.87`, or with the name a recogniser gave the box: `face: Ada 0.91`."""
    name = recognised_name(identity)
    if name is not None:
        return f"{label}: {name} {confidence:.2f}"
    return f"{label} {confidence:.2f}"


def draw_detections(
    image_bgr: np.ndarray, found: Detections, captions: Sequence[str] = (), lines: Sequence[str] = ()
) -> np.ndarray:
    """A copy of the frame with boxes, captions (the name on a recognised face) and status lines;
    `captions` overrides per-box text."""
    canvas = image_bgr.copy()
    identities = found.data.get("identity")
    for i, (x1, y1, x2, y2) in enumerate(found.xyxy.astype(int)):
        color = label_color_bgr(str(found.label[i]))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2)
        identity = None if identities is None else identities[i]
        text = (
            captions[i]
            if i < len(captions)
            else caption(str(found.label[i]), float(found.confidence[i]), identity)
        )
        cv2.putText(
            canvas, text, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA
        )
    for row, line in enumerate(lines):
        origin = (6, 16 + 16 * row)
        cv2.putText(canvas, line, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(canvas, line, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas
