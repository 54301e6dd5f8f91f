"""From raw YOLO rows to `Detections`: every output layer, class-wise NMS, clipped boxes."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from liquidedge.detections import Detections


def decode_yolo_rows(
    layer_rows: Sequence[np.ndarray],
    *,
    image_wh: tuple[int, int],
    class_names: Sequence[str],
    score_threshold: float,
    nms_threshold: float,
    engine_name: str = "yolo",
) -> Detections:
    """Turn one image's rows from every YOLO layer into pixel boxes.

    `layer_rows` holds one (rows, 5 + classes) array per output layer; all layers are read
    (the original demonstrator read only the first and missed every small object).
    NMS runs per class so a person does not suppress the bicycle they ride.
    """
    rows = np.concatenate([np.asarray(r, np.float32).reshape(-1, r.shape[-1]) for r in layer_rows])
    scores = rows[:, 5:]
    class_id = scores.argmax(axis=1)
    confidence = scores[np.arange(len(rows)), class_id]
    keep = confidence >= score_threshold
    rows, class_id, confidence = rows[keep], class_id[keep], confidence[keep]
    if len(rows) == 0:
        return Detections.empty()

    width, height = image_wh
    cx, cy = rows[:, 0] * width, rows[:, 1] * height
    bw, bh = rows[:, 2] * width, rows[:, 3] * height
    xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    xyxy = np.clip(xyxy, 0, [width, height, width, height]).astype(np.float32)
    boxes_xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)

    kept = cv2.dnn.NMSBoxesBatched(
        boxes_xywh.tolist(), confidence.tolist(), class_id.tolist(), score_threshold, nms_threshold
    )
    kept = np.asarray(kept, np.int64).reshape(-1)
    kept = kept[np.argsort(-confidence[kept], kind="stable")]
    names = np.asarray(class_names, object)
    labels = names[class_id[kept]] if len(names) > int(class_id.max()) else class_id[kept].astype(str)
    return Detections(
        xyxy=xyxy[kept],
        confidence=confidence[kept],
        label=np.asarray(labels, object),
        engine=np.full(len(kept), engine_name, object),
    )
