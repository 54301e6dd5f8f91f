from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from meshtools.samples import SampleFrame
from yolodetection.engine import YoloEngine, YoloSettings
from yolodetection.postprocess import decode_yolo_rows
from yolodetection.service import build_parser, load_engine

NAMES = ["person", "bicycle", "car"]


def row(cx: float, cy: float, w: float, h: float, cls: int, score: float) -> list[float]:
    scores = [0.0] * len(NAMES)
    scores[cls] = score
    return [cx, cy, w, h, score, *scores]


def decode(layers: list[list[list[float]]], **kwargs: float) -> list[tuple[str, float]]:
    found = decode_yolo_rows(
        [np.array(layer, np.float32).reshape(-1, 5 + len(NAMES)) for layer in layers],
        image_wh=(640, 480),
        class_names=NAMES,
        score_threshold=kwargs.get("score", 0.25),
        nms_threshold=kwargs.get("nms", 0.45),
    )
    return [
        (str(label), round(float(conf), 2)) for label, conf in zip(found.label, found.confidence, strict=True)
    ]


def test_every_output_layer_is_decoded() -> None:
    # One object in the coarse layer, one in the fine layer: the demonstrator lost the second.
    assert decode([[row(0.2, 0.2, 0.3, 0.3, 0, 0.9)], [row(0.8, 0.8, 0.05, 0.05, 2, 0.7)]]) == [
        ("person", 0.9),
        ("car", 0.7),
    ]


def test_nms_is_per_class() -> None:
    same_place = [
        row(0.5, 0.5, 0.4, 0.4, 0, 0.9),
        row(0.5, 0.5, 0.4, 0.4, 1, 0.8),
        row(0.51, 0.5, 0.4, 0.4, 0, 0.6),
    ]
    assert decode([same_place]) == [("person", 0.9), ("bicycle", 0.8)]


def test_thresholds_apply() -> None:
    rows = [row(0.2, 0.2, 0.1, 0.1, 0, 0.3), row(0.7, 0.7, 0.1, 0.1, 1, 0.2)]
    assert decode([rows]) == [("person", 0.3)]
    assert decode([rows], score=0.1) == [("person", 0.3), ("bicycle", 0.2)]


def test_boxes_are_clipped_to_the_image_in_pixels() -> None:
    found = decode_yolo_rows(
        [np.array([row(0.95, 0.05, 0.3, 0.3, 0, 0.9)], np.float32)],
        image_wh=(640, 480),
        class_names=NAMES,
        score_threshold=0.25,
        nms_threshold=0.45,
    )
    x1, y1, x2, y2 = found.xyxy[0]
    assert x1 == pytest.approx(0.8 * 640) and y1 == 0 and x2 == 640 and y2 == pytest.approx(0.2 * 480)


def test_nothing_above_threshold_is_empty() -> None:
    assert decode([[row(0.5, 0.5, 0.1, 0.1, 0, 0.01)]]) == []


@pytest.fixture(scope="module")
def engine(model_dir: str) -> YoloEngine:
    args: argparse.Namespace = build_parser().parse_args(["--model-dir", model_dir, "--instances", "2"])
    return load_engine(args)


def test_real_model_finds_people_in_the_cameraman(engine: YoloEngine, frames: dict[str, SampleFrame]) -> None:
    found = engine.detect(frames["camera"].image_bgr)
    assert "person" in found.label.tolist()
    assert (found.xyxy[:, 2] <= 640).all() and (found.xyxy[:, 3] <= 480).all()


def test_batch_answers_match_single_answers(engine: YoloEngine, frames: dict[str, SampleFrame]) -> None:
    images = [frames[name].image_bgr for name in ("camera", "coffee", "astronaut")]
    singles = [engine.detect(image) for image in images]
    batched = engine.detect_batch(images)
    for one, many in zip(singles, batched, strict=True):
        assert one.label.tolist() == many.label.tolist()
        np.testing.assert_allclose(one.xyxy, many.xyxy, atol=0.5)


def test_concurrent_calls_give_the_same_answers_as_serial_ones(
    engine: YoloEngine, frames: dict[str, SampleFrame]
) -> None:
    images = [frame.image_bgr for frame in frames.values()] * 2
    serial = [engine.detect(image).label.tolist() for image in images]
    with ThreadPoolExecutor(6) as pool:
        concurrent = [found.label.tolist() for found in pool.map(engine.detect, images)]
    assert concurrent == serial


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="score_threshold"):
        YoloSettings(score_threshold=1.5)
