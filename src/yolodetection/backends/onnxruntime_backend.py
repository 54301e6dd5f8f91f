"""ONNX Runtime backend: any YOLO ONNX file, in whichever common layout it was exported.

Our Darknet export (per-head rows), YOLOv5-style (N, boxes, 5 + C) and YOLOv8-style
(N, 4 + C, boxes) single outputs are told apart from the graph (`yolodetection.onnx_layouts`),
so a user brings a modern detector with `--onnx` and no code. `InferenceSession.run` is
thread-safe; a graph with a fixed batch of one is run frame by frame.
"""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort

from yolodetection.backends.onnx_model import GraphModel
from yolodetection.onnx_layouts import detect_layout, to_rows

log = logging.getLogger(__name__)


def _dim(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


class OnnxRuntimeBackend:
    name = "onnxruntime"
    device = "cpu"
    precision = "fp32"

    def __init__(self, graph: GraphModel, *, threads: int = 0, classes: int | None = None) -> None:
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(graph.path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0]
        shapes = [out.shape for out in self._session.get_outputs()]
        metadata = self._session.get_modelmeta().custom_metadata_map
        self.layout = graph.layout or detect_layout(shapes, classes=classes, metadata=metadata)
        batch, _, height, width = (_dim(d) for d in self._input.shape)
        if graph.input_wh is not None:
            self.input_wh = graph.input_wh
        elif height is None or width is None:
            raise ValueError(f"the ONNX input {self._input.shape} has no fixed height and width")
        else:
            self.input_wh = (width, height)
        self._fixed_batch = batch
        self.version = graph.version
        self.names = graph.names
        log.info("onnxruntime backend: %s, layout %s, input %s", graph.path.name, self.layout, self.input_wh)

    def forward(self, blob: np.ndarray) -> list[np.ndarray]:
        blob = np.ascontiguousarray(blob, np.float32)
        if self._fixed_batch is None or self._fixed_batch == blob.shape[0]:
            outputs = self._session.run(None, {self._input.name: blob})
        else:
            runs = [self._session.run(None, {self._input.name: blob[i : i + 1]}) for i in range(len(blob))]
            outputs = [np.concatenate(parts) for parts in zip(*runs, strict=True)]
        return to_rows(self.layout, outputs, self.input_wh)
