"""The output layouts of YOLO ONNX files, told apart from the graph, turned into our rows.

Three layouts are common:

* `darknet-rows` (ours, `yolodetection.onnx_export`): one output per [yolo] head,
  (N, rows, 5 + C), [cx, cy, w, h] relative to the input, objectness, class scores already
  multiplied by objectness: already the backend convention (`yolodetection.backends`).
* `yolov5`: one output (N, boxes, 5 + C), [cx, cy, w, h] in input pixels, objectness, class
  probabilities not yet multiplied by it (YOLOv5/YOLOv7 exports).
* `yolov8`: one output (N, 4 + C, boxes), [cx, cy, w, h] in input pixels, then class scores,
  no objectness (YOLOv8/YOLO11 exports).

The rows handed on are always the backend convention, so post-processing stays shared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

DARKNET_ROWS = "darknet-rows"
YOLOV5 = "yolov5"
YOLOV8 = "yolov8"
LAYOUTS = (DARKNET_ROWS, YOLOV5, YOLOV8)
LAYOUT_METADATA_KEY = "liquidedge.layout"

# A dimension of an output shape: an int when fixed, None (or a name) when dynamic.
Dim = int | str | None


class LayoutError(ValueError):
    """The graph's outputs match none of the layouts we read."""


def _fixed(dim: Dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def detect_layout(
    output_shapes: Sequence[Sequence[Dim]],
    *,
    classes: int | None = None,
    metadata: Mapping[str, str] | None = None,
) -> str:
    """Which layout a graph's outputs follow. `classes`, when known, settles odd shapes.

    Our own exports say so in their metadata; without it, several 3-D outputs with the same
    row width are per-head Darknet rows, and a single output is YOLOv5 when its last axis
    is the row (5 + C) and YOLOv8 when its middle one is (4 + C).
    """
    tagged = (metadata or {}).get(LAYOUT_METADATA_KEY)
    if tagged is not None:
        if tagged not in LAYOUTS:
            raise LayoutError(f"the graph says layout {tagged!r}, which is none of {LAYOUTS}")
        return tagged
    shapes = [tuple(shape) for shape in output_shapes]
    if not shapes or any(len(shape) != 3 for shape in shapes):
        raise LayoutError(f"expected 3-D outputs (batch, boxes, values), got shapes {shapes}")
    if len(shapes) > 1:
        widths = {_fixed(shape[2]) for shape in shapes}
        if len(widths) == 1 and None not in widths and widths.pop() > 5:  # type: ignore[operator]
            return DARKNET_ROWS
        raise LayoutError(f"several outputs that are not per-head rows of one width: {shapes}")
    _, middle, last = (_fixed(d) for d in shapes[0])
    if classes is not None:
        if last == 5 + classes:
            return YOLOV5
        if middle == 4 + classes:
            return YOLOV8
    if middle is not None and last is not None:
        # Attributes (tens) are far fewer than candidate boxes (thousands).
        return YOLOV8 if middle < last else YOLOV5
    if last is not None:
        return YOLOV5
    if middle is not None:
        return YOLOV8
    raise LayoutError(f"cannot tell the layout of output shape {shapes[0]} without the class count")


def to_rows(layout: str, outputs: Sequence[np.ndarray], input_wh: tuple[int, int]) -> list[np.ndarray]:
    """The backend's rows for one forward pass's outputs (every output keeps its batch axis)."""
    if layout == DARKNET_ROWS:
        return [np.asarray(out, np.float32) for out in outputs]
    if len(outputs) != 1:
        raise LayoutError(f"layout {layout} has one output, got {len(outputs)}")
    out = np.asarray(outputs[0], np.float32)
    width, height = input_wh
    scale = np.array([width, height, width, height], np.float32)
    if layout == YOLOV5:
        boxes = out[..., :4] / scale
        objectness = out[..., 4:5]
        scores = out[..., 5:] * objectness
        return [np.concatenate([boxes, objectness, scores], axis=-1)]
    if layout == YOLOV8:
        rows = np.swapaxes(out, 1, 2)  # (N, boxes, 4 + C)
        boxes = rows[..., :4] / scale
        scores = rows[..., 4:]
        # No objectness in this family: the best class score stands in for it.
        objectness = scores.max(axis=-1, keepdims=True)
        return [np.concatenate([boxes, objectness, scores], axis=-1)]
    raise LayoutError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
