"""The PyTorch backend and OpenCV's Darknet importer must give the same answers.

Both load the same YOLOv3-tiny files and see the same real frames (scikit-image photographs,
640x480, JPEG round-trip). Raw rows must agree to float tolerance, detections by class, IoU
and score. The drift tests prove the comparison has teeth: a 2% change to one conv layer or
the official tiny mask (1,2,3 instead of the cfg's 0,1,2) must be caught.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from liquidedge.detections import Detections
from liquidedge.imaging import encode_jpeg
from meshtools.samples import sample_frames, sample_image_bgr
from yolodetection.backends.opencv_dnn import OpenCVBackend
from yolodetection.backends.torch_backend import OPENCV_SCORE_FLOOR, TorchBackend, TorchOptions
from yolodetection.engine import YoloEngine, YoloSettings, make_blob
from yolodetection.model_files import ModelFiles

ROW_ATOL = 1e-3  # observed ~6e-5: float32 conv order differs, nothing more
MIN_IOU = 0.9
SCORE_TOL = 0.02
# Below OpenCV's internal class-score floor (0.2), so every score it reports is compared.
TEST_SCORE_THRESHOLD = 0.1
CPU = TorchOptions(device="cpu")


def camera_frame(image_bgr: np.ndarray) -> np.ndarray:
    """What the service sees: 640x480, through a JPEG round-trip."""
    resized = cv2.resize(np.ascontiguousarray(image_bgr), (640, 480), interpolation=cv2.INTER_AREA)
    return cv2.imdecode(np.frombuffer(encode_jpeg(resized), np.uint8), cv2.IMREAD_COLOR)


def far_away(image_bgr: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """The photo small in a grey frame: the subject at the distance a robot's camera sees it."""
    small = cv2.resize(image_bgr, size_wh, interpolation=cv2.INTER_AREA)
    pad_y, pad_x = (480 - size_wh[1]) // 2, (640 - size_wh[0]) // 2
    return cv2.copyMakeBorder(small, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=(128, 128, 128))


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    import skimage.data

    found = {frame.name: frame.image_bgr for frame in sample_frames()}
    for name, index in (("motorcycle-left", 0), ("motorcycle-right", 1)):
        found[name] = camera_frame(cv2.cvtColor(skimage.data.stereo_motorcycle()[index], cv2.COLOR_RGB2BGR))
    found["camera-mirrored"] = camera_frame(sample_image_bgr("camera")[:, ::-1])
    found["coffee-mirrored"] = camera_frame(sample_image_bgr("coffee")[:, ::-1])
    found["chelsea-far"] = camera_frame(far_away(sample_image_bgr("chelsea"), (200, 150)))
    found["astronaut-far"] = camera_frame(far_away(sample_image_bgr("astronaut"), (240, 240)))
    return found


@pytest.fixture(scope="module")
def files(model_dir: str) -> ModelFiles:
    return ModelFiles.in_dir(model_dir)


@pytest.fixture(scope="module")
def opencv_backend(files: ModelFiles) -> OpenCVBackend:
    return OpenCVBackend(files, prefer_cuda=False)


@pytest.fixture(scope="module")
def torch_backend(files: ModelFiles) -> TorchBackend:
    return TorchBackend.from_files(files, CPU)


@pytest.fixture(scope="module")
def opencv_rows(opencv_backend: OpenCVBackend, images: dict[str, np.ndarray], files: ModelFiles) -> list:
    return opencv_backend.forward(make_blob(list(images.values()), files.input_size()))


def row_disagreement(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Largest difference; a class score right at the 0.2 floor may be zeroed on one side."""
    assert [x.shape for x in a] == [y.shape for y in b]
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        diff = np.abs(x - y)
        at_floor = (np.minimum(x, y) == 0) & (np.abs(np.maximum(x, y) - OPENCV_SCORE_FLOOR) < 1e-3)
        diff[..., 5:][at_floor[..., 5:]] = 0.0
        worst = max(worst, float(diff.max()))
    return worst


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def borderline(score: float) -> bool:
    """A score at OpenCV's 0.2 class-score floor may land on either side of it."""
    return score < OPENCV_SCORE_FLOOR + SCORE_TOL


def detection_disagreements(expected: Detections, actual: Detections) -> list[str]:
    """Each expected box needs its own actual box of the same class, IoU and score close.

    Boxes scored within SCORE_TOL of the floor may be missing on one side only.
    """
    problems = []
    unused = set(range(len(actual)))
    for i in range(len(expected)):
        candidates = [
            (iou(expected.xyxy[i], actual.xyxy[j]), j) for j in unused if actual.label[j] == expected.label[i]
        ]
        best_iou, best = max(candidates, default=(0.0, -1))
        if best < 0 or best_iou < MIN_IOU:
            if borderline(float(expected.confidence[i])):
                continue
            problems.append(
                f"{expected.label[i]} {expected.confidence[i]:.3f}: no match (best IoU {best_iou:.3f})"
            )
            continue
        unused.discard(best)
        if abs(float(expected.confidence[i]) - float(actual.confidence[best])) > SCORE_TOL:
            problems.append(
                f"{expected.label[i]}: score {expected.confidence[i]:.3f} vs {actual.confidence[best]:.3f}"
            )
    problems += [
        f"extra {actual.label[j]} {actual.confidence[j]:.3f}"
        for j in sorted(unused)
        if not borderline(float(actual.confidence[j]))
    ]
    return problems


def engine_for(backend: object, files: ModelFiles) -> YoloEngine:
    settings = YoloSettings(score_threshold=TEST_SCORE_THRESHOLD)
    return YoloEngine(backend, files.class_names(), files.input_size(), settings)  # type: ignore[arg-type]


def test_raw_rows_agree(
    torch_backend: TorchBackend, opencv_rows: list, images: dict[str, np.ndarray], files: ModelFiles
) -> None:
    torch_rows = torch_backend.forward(make_blob(list(images.values()), files.input_size()))
    assert [rows.shape[1:] for rows in torch_rows] == [(507, 85), (2028, 85)]
    assert row_disagreement(opencv_rows, torch_rows) < ROW_ATOL


def test_detections_agree(
    torch_backend: TorchBackend,
    opencv_backend: OpenCVBackend,
    images: dict[str, np.ndarray],
    files: ModelFiles,
) -> None:
    reference, candidate = engine_for(opencv_backend, files), engine_for(torch_backend, files)
    compared = 0
    problems: dict[str, list[str]] = {}
    for name, image in images.items():
        expected = reference.detect(image)
        compared += len(expected)
        found = detection_disagreements(expected, candidate.detect(image))
        if found:
            problems[name] = found
    assert not problems
    # The comparison means something only if there was something to compare.
    assert compared >= 10


def test_the_comparison_catches_a_drifted_weight(
    files: ModelFiles, opencv_rows: list, images: dict[str, np.ndarray]
) -> None:
    drifted = TorchBackend.from_files(files, CPU)
    conv = drifted.model.conv_blocks()[-1].conv  # the last detection layer's conv
    conv.weight.data.mul_(1.02)
    rows = drifted.forward(make_blob(list(images.values()), files.input_size()))
    assert row_disagreement(opencv_rows, rows) > 10 * ROW_ATOL


def test_the_comparison_catches_a_wrong_anchor_mask(
    files: ModelFiles,
    opencv_backend: OpenCVBackend,
    opencv_rows: list,
    images: dict[str, np.ndarray],
    tmp_path: Path,
) -> None:
    text = files.cfg.read_text(encoding="utf-8")
    assert text.count("mask = 0,1,2") == 1, "the shipped tiny cfg's second head uses anchors 0,1,2"
    official = tmp_path / "official-mask.cfg"
    official.write_text(text.replace("mask = 0,1,2", "mask = 1,2,3"), encoding="utf-8")
    drifted = TorchBackend(official, files.weights, CPU)
    rows = drifted.forward(make_blob(list(images.values()), files.input_size()))
    assert row_disagreement(opencv_rows[:1], rows[:1]) < ROW_ATOL  # the first head is untouched
    assert row_disagreement(opencv_rows, rows) > 10 * ROW_ATOL
    reference, candidate = (
        engine_for(opencv_backend, files),
        engine_for(drifted, files),
    )
    assert any(
        detection_disagreements(reference.detect(img), candidate.detect(img)) for img in images.values()
    )
