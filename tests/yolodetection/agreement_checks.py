"""What "two backends agree" means in the tests, shared by the agreement test files.

Raw rows must agree to float tolerance (a class score at OpenCV's 0.2 floor may be zeroed on
one side), detections by class, IoU and score.
"""

from __future__ import annotations

import cv2
import numpy as np

from liquidedge.detections import Detections
from liquidedge.imaging import encode_jpeg
from meshtools.samples import sample_frames, sample_image_bgr
from yolodetection.engine import YoloEngine, YoloSettings
from yolodetection.model_files import ModelFiles
from yolodetection.onnx_export import SCORE_FLOOR as OPENCV_SCORE_FLOOR

ROW_ATOL = 1e-3  # observed ~6e-5: float32 conv order differs, nothing more
MIN_IOU = 0.9
SCORE_TOL = 0.02
# Below OpenCV's internal class-score floor (0.2), so every score it reports is compared.
TEST_SCORE_THRESHOLD = 0.1


def camera_frame(image_bgr: np.ndarray) -> np.ndarray:
    """What the service sees: 640x480, through a JPEG round-trip."""
    resized = cv2.resize(np.ascontiguousarray(image_bgr), (640, 480), interpolation=cv2.INTER_AREA)
    return cv2.imdecode(np.frombuffer(encode_jpeg(resized), np.uint8), cv2.IMREAD_COLOR)


def far_away(image_bgr: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """The photo small in a grey frame: the subject at the distance a robot's camera sees it."""
    small = cv2.resize(image_bgr, size_wh, interpolation=cv2.INTER_AREA)
    pad_y, pad_x = (480 - size_wh[1]) // 2, (640 - size_wh[0]) // 2
    return cv2.copyMakeBorder(small, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=(128, 128, 128))


def agreement_images() -> dict[str, np.ndarray]:
    """Real frames with people, cats, cups, motorcycles, near and far."""
    import skimage.data

    found = {frame.name: frame.image_bgr for frame in sample_frames()}
    for name, index in (("motorcycle-left", 0), ("motorcycle-right", 1)):
        found[name] = camera_frame(cv2.cvtColor(skimage.data.stereo_motorcycle()[index], cv2.COLOR_RGB2BGR))
    found["camera-mirrored"] = camera_frame(sample_image_bgr("camera")[:, ::-1])
    found["coffee-mirrored"] = camera_frame(sample_image_bgr("coffee")[:, ::-1])
    found["chelsea-far"] = camera_frame(far_away(sample_image_bgr("chelsea"), (200, 150)))
    found["astronaut-far"] = camera_frame(far_away(sample_image_bgr("astronaut"), (240, 240)))
    return found


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
