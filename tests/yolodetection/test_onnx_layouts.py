"""Any YOLO ONNX file: Darknet per-head rows, YOLOv5 (N, boxes, 5+C) and YOLOv8 (N, 4+C, boxes).

The YOLOv5- and YOLOv8-layout networks are built here with `onnx.helper`: their output is a
constant (plus 0 x the input's mean, so the graph does read its input), so the boxes the
engine must report are known exactly. They run through ONNX Runtime, OpenVINO, and the YOLO
service started with `--onnx`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from liquidedge.imaging import encode_jpeg
from support.calls import detect
from support.services import start_yolo
from yolodetection.backends.onnx_model import GraphModel, user_model
from yolodetection.backends.onnxruntime_backend import OnnxRuntimeBackend
from yolodetection.backends.openvino_backend import OpenVINOBackend, OpenVINOOptions
from yolodetection.engine import YoloEngine, YoloSettings
from yolodetection.model_version import ModelVersion
from yolodetection.onnx_layouts import (
    DARKNET_ROWS,
    LAYOUT_METADATA_KEY,
    YOLOV5,
    YOLOV8,
    LayoutError,
    detect_layout,
)

NAMES = ["person", "bicycle", "car"]
INPUT = 64  # the built networks' input side
FRAME_WH = (640, 480)
# Boxes in input pixels (cx, cy, w, h), objectness, class probabilities.
V5_ROWS = [
    [32, 16, 16, 8, 0.9, 0.1, 0.8, 0.05],  # bicycle 0.72
    [32, 16, 16, 8, 0.9, 0.1, 0.6, 0.0],  # the same bicycle, weaker: NMS drops it
    [8, 48, 8, 16, 0.5, 0.9, 0.0, 0.0],  # person 0.45
    [40, 40, 8, 8, 0.1, 0.5, 0.0, 0.0],  # person 0.05: under the threshold
]
# What the engine must answer for a 640x480 frame: label, score, xyxy in frame pixels.
EXPECTED = [("bicycle", 0.72, (240, 90, 400, 150)), ("person", 0.45, (40, 300, 120, 420))]


def v8_columns() -> np.ndarray:
    """The same boxes as YOLOv8 writes them: no objectness, final class scores, one column per box."""
    rows = np.array(V5_ROWS, np.float32)
    scores = rows[:, 5:] * rows[:, 4:5]
    return np.concatenate([rows[:, :4], scores], axis=1).T[None]  # (1, 4 + C, boxes)


def constant_network(path: Path, output: np.ndarray) -> Path:
    """images (1, 3, INPUT, INPUT) -> `output` + 0 * mean(images)."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["rows", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant-yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, INPUT, INPUT])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        initializer=[
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("rows", TensorProto.FLOAT, list(output.shape), output.flatten().tolist()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def networks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("layouts")
    return {
        YOLOV5: constant_network(root / "yolov5.onnx", np.array(V5_ROWS, np.float32)[None]),
        YOLOV8: constant_network(root / "yolov8.onnx", v8_columns()),
    }


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return np.full((FRAME_WH[1], FRAME_WH[0], 3), 90, np.uint8)


def make_backend(kind: str, graph: GraphModel) -> object:
    if kind == "onnxruntime":
        return OnnxRuntimeBackend(graph, classes=len(NAMES))
    return OpenVINOBackend(graph, OpenVINOOptions(precision="fp32"), classes=len(NAMES))


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("layout", [YOLOV5, YOLOV8])
def test_single_output_layouts_give_the_known_boxes(
    networks: dict[str, Path], frame: np.ndarray, layout: str, backend: str
) -> None:
    runner = make_backend(backend, user_model(networks[layout]))
    assert runner.layout == layout and runner.input_wh == (INPUT, INPUT)  # type: ignore[attr-defined]
    found = YoloEngine(runner, NAMES, (INPUT, INPUT), YoloSettings()).detect(frame)  # type: ignore[arg-type]
    assert list(found.label) == [label for label, _, _ in EXPECTED]
    assert found.confidence == pytest.approx([score for _, score, _ in EXPECTED], abs=1e-6)
    assert found.xyxy == pytest.approx(np.array([box for _, _, box in EXPECTED], np.float32), abs=1e-3)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_our_export_is_read_as_darknet_rows(fp32_version: ModelVersion, backend: str) -> None:
    # The bare file, without the manifest: the layout comes from the graph's metadata.
    runner = make_backend(backend, user_model(fp32_version.model))
    assert runner.layout == DARKNET_ROWS  # type: ignore[attr-defined]
    assert onnx.load(str(fp32_version.model)).metadata_props[0].key == LAYOUT_METADATA_KEY


@pytest.mark.parametrize(
    ("shapes", "classes", "metadata", "expected"),
    [
        ([(1, 507, 85), (1, 2028, 85)], 80, {}, DARKNET_ROWS),  # per-head rows, untagged
        ([("batch", 507, 85)], 80, {LAYOUT_METADATA_KEY: DARKNET_ROWS}, DARKNET_ROWS),  # one head, tagged
        ([(1, 25200, 85)], 80, {}, YOLOV5),  # YOLOv5s at 640
        ([(1, 84, 8400)], 80, {}, YOLOV8),  # YOLOv8n at 640
        ([(1, 25200, 85)], None, {}, YOLOV5),  # no class count: boxes outnumber values
        ([(1, 84, 8400)], None, {}, YOLOV8),
        ([("batch", "boxes", 85)], 80, {}, YOLOV5),  # dynamic axes, settled by the class count
        ([("batch", 84, "boxes")], 80, {}, YOLOV8),
        ([(1, 6, 4)], 1, {}, YOLOV5),  # fewer boxes than values: the class count decides
    ],
)
def test_layout_is_detected_from_the_outputs(
    shapes: list[tuple], classes: int | None, metadata: dict[str, str], expected: str
) -> None:
    assert detect_layout(shapes, classes=classes, metadata=metadata) == expected


@pytest.mark.parametrize(
    ("shapes", "metadata", "error"),
    [
        ([(1, 8400)], {}, "3-D outputs"),  # already post-processed (boxes only)
        ([(1, 507, 85), (1, 2028, 7)], {}, "not per-head rows"),
        ([("b", "n", "m")], {}, "without the class count"),
        ([(1, 507, 85)], {LAYOUT_METADATA_KEY: "ssd"}, "none of"),
    ],
)
def test_unknown_layouts_are_refused_with_a_reason(
    shapes: list[tuple], metadata: dict[str, str], error: str
) -> None:
    with pytest.raises(LayoutError, match=error):
        detect_layout(shapes, metadata=metadata)


def test_the_service_serves_a_yolov8_onnx_file(
    networks: dict[str, Path], frame: np.ndarray, tmp_path: Path
) -> None:
    names = tmp_path / "names.txt"
    names.write_text("\n".join(NAMES) + "\n", "utf-8")
    flags = [
        "--backend",
        "onnxruntime",
        "--onnx",
        str(networks[YOLOV8]),
        "--names",
        str(names),
        "--max-batch",
        "1",
    ]
    handle = start_yolo(str(tmp_path), *flags)
    try:
        reply = detect(handle.port, encode_jpeg(frame), timeout_s=30)
    finally:
        handle.stop(0)
    got = [(d.label, d.box.x, d.box.y, d.box.width, d.box.height) for d in reply.detections]
    assert got == [(label, x1, y1, x2 - x1, y2 - y1) for label, _, (x1, y1, x2, y2) in EXPECTED]
    assert [d.confidence for d in reply.detections] == pytest.approx([s for _, s, _ in EXPECTED], abs=1e-6)
