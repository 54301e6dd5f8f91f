"""Every backend pair gives the same answers: OpenCV, PyTorch, ONNX Runtime, OpenVINO FP32.

Same YOLOv3-tiny files (ONNX Runtime and OpenVINO run our Darknet module's ONNX export), same
real frames; raw rows to float tolerance, detections by class, IoU and score. Reduced
precision (OpenVINO BF16) is held to the acceptance rule of `yolodetection.agreement`
against FP32, and its figures are printed; on a CPU without BF16 that test says so and skips.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from agreement_checks import ROW_ATOL, detection_disagreements, engine_for, row_disagreement

from liquidedge.detections import Detections
from yolodetection.agreement import compare
from yolodetection.backends.onnx_model import GraphModel
from yolodetection.backends.onnxruntime_backend import OnnxRuntimeBackend
from yolodetection.backends.opencv_dnn import OpenCVBackend
from yolodetection.backends.openvino_backend import OpenVINOBackend, OpenVINOOptions
from yolodetection.backends.torch_backend import TorchBackend, TorchOptions
from yolodetection.engine import YoloEngine, YoloSettings, make_blob
from yolodetection.model_files import ModelFiles
from yolodetection.model_version import ModelVersion
from yolodetection.precision import openvino_cpu_capabilities

BACKENDS = ("opencv", "torch", "onnxruntime", "openvino-fp32")
# A bound for gross errors only (a wrong BF16 path is off by ~1): measured 0.039 at most, over
# every row, in the box sides of empty cells where exp() magnifies rounding. Whether BF16 is
# good enough is the detection-level rule below.
BF16_ROW_ATOL = 0.1


@pytest.fixture(scope="module")
def backends(files: ModelFiles, fp32_version: ModelVersion) -> dict[str, object]:
    graph = GraphModel.from_version(fp32_version)
    return {
        "opencv": OpenCVBackend(files, prefer_cuda=False),
        "torch": TorchBackend.from_files(files, TorchOptions(device="cpu")),
        "onnxruntime": OnnxRuntimeBackend(graph),
        "openvino-fp32": OpenVINOBackend(graph, OpenVINOOptions(precision="fp32")),
    }


@pytest.fixture(scope="module")
def rows(backends: dict[str, object], images: dict[str, np.ndarray], files: ModelFiles) -> dict[str, list]:
    blob = make_blob(list(images.values()), files.input_size())
    return {name: backend.forward(blob) for name, backend in backends.items()}  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def answers(
    backends: dict[str, object], images: dict[str, np.ndarray], files: ModelFiles
) -> dict[str, list[Detections]]:
    return {
        name: [engine_for(backend, files).detect(image) for image in images.values()]
        for name, backend in backends.items()
    }


PAIRS = list(itertools.combinations(BACKENDS, 2))


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_raw_rows_agree(first: str, second: str, rows: dict[str, list]) -> None:
    assert [r.shape[1:] for r in rows[second]] == [(507, 85), (2028, 85)]
    assert row_disagreement(rows[first], rows[second]) < ROW_ATOL


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_detections_agree(first: str, second: str, answers: dict[str, list[Detections]]) -> None:
    problems = {
        i: found
        for i, (expected, actual) in enumerate(zip(answers[first], answers[second], strict=True))
        if (found := detection_disagreements(expected, actual))
    }
    assert not problems
    # The comparison means something only if there was something to compare.
    assert sum(len(d) for d in answers[first]) >= 10


def test_bf16_agrees_with_fp32(
    fp32_version: ModelVersion, rows: dict[str, list], images: dict[str, np.ndarray], files: ModelFiles
) -> None:
    if "BF16" not in openvino_cpu_capabilities():
        pytest.skip("this CPU has no BF16 (OpenVINO OPTIMIZATION_CAPABILITIES): the service runs FP32 here")
    graph = GraphModel.from_version(fp32_version)
    bf16 = OpenVINOBackend(graph, OpenVINOOptions(precision="bf16"))
    bf16_rows = bf16.forward(make_blob(list(images.values()), files.input_size()))
    worst = max(float(np.abs(a - b).max()) for a, b in zip(rows["openvino-fp32"], bf16_rows, strict=True))
    fp32 = OpenVINOBackend(graph, OpenVINOOptions(precision="fp32"))
    engines = [YoloEngine(b, files.class_names(), files.input_size(), YoloSettings()) for b in (fp32, bf16)]
    reference, candidate = ([e.detect(image) for image in images.values()] for e in engines)
    agreement = compare(reference, candidate)
    print(f"BF16 vs FP32: largest raw row difference {worst:.4f}; {agreement.summary()}")
    assert worst < BF16_ROW_ATOL
    assert agreement.accepted(), agreement.summary()


def test_the_adaptive_backend_runs_a_lone_frame_on_every_core_and_overlapping_frames_on_the_streams(
    backends: dict[str, object], images: dict[str, np.ndarray], files: ModelFiles
) -> None:
    """`adaptive` (the default hint): a frame alone takes the latency model, a frame that overlaps
    another takes a throughput stream, and both give the same rows."""
    backend = backends["openvino-fp32"]
    assert isinstance(backend, OpenVINOBackend) and backend.options.performance_hint == "adaptive"
    taken: list[str] = []
    lone, pooled = backend._run_lone, backend._run_pooled
    backend._run_lone = lambda frame: taken.append("lone") or lone(frame)  # type: ignore[method-assign]
    backend._run_pooled = lambda frames: taken.append("pooled") or pooled(frames)  # type: ignore[method-assign]
    try:
        blob = make_blob([next(iter(images.values()))], files.input_size())
        alone = backend.forward(blob)
        with backend._running_lock:
            backend._running += 1  # another frame is running now
        try:
            overlapping = backend.forward(blob)
        finally:
            with backend._running_lock:
                backend._running -= 1
    finally:
        del backend._run_lone, backend._run_pooled
    assert taken == ["lone", "pooled"]
    assert backend._running == 0
    for a, b in zip(alone, overlapping, strict=True):
        np.testing.assert_allclose(a, b, atol=ROW_ATOL)
