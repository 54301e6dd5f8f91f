from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from facedetection.engine import FaceEngine, FaceSettings
from meshtools.samples import SampleFrame


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    return FaceEngine(FaceSettings(instances=3))


def test_finds_the_astronauts_face_with_a_real_confidence(
    engine: FaceEngine, frames: dict[str, SampleFrame]
) -> None:
    found = engine.detect(frames["astronaut"].image_bgr)
    assert len(found) == 1
    x, y, w, h = found.xywh[0]
    # Eileen Collins' face in the 640x480 resize of scikit-image's astronaut.
    assert 200 < x < 240 and 30 < y < 70 and 100 < w < 140 and w == h
    assert 0.5 < found.confidence[0] < 1.0
    assert found.label.tolist() == ["face"] and found.engine.tolist() == ["face"]
    assert found.color_rgb[0].tolist() != [0, 0, 0]


def test_downscale_still_finds_the_face_in_full_resolution_pixels(frames: dict[str, SampleFrame]) -> None:
    full = FaceEngine(FaceSettings(instances=1)).detect(frames["astronaut"].image_bgr)
    half = FaceEngine(FaceSettings(instances=1, downscale=0.5)).detect(frames["astronaut"].image_bgr)
    assert len(half) == 1
    assert np.abs(half.xyxy[0] - full.xyxy[0]).max() < 12


def test_concurrent_calls_give_the_same_answers_as_serial_ones(
    engine: FaceEngine, frames: dict[str, SampleFrame]
) -> None:
    images = [frame.image_bgr for frame in frames.values()] * 4
    serial = [engine.detect(image).xyxy.tolist() for image in images]
    with ThreadPoolExecutor(8) as pool:
        concurrent = [found.xyxy.tolist() for found in pool.map(engine.detect, images)]
    assert concurrent == serial


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("scale_factor", 1.0, "scale_factor"),
        ("min_neighbors", -1, "min_neighbors"),
        ("min_size", 0, "min_size"),
        ("downscale", 0.0, "downscale"),
        ("downscale", 1.5, "downscale"),
    ],
)
def test_settings_are_validated(field: str, value: float, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        FaceSettings(**{field: value})


def test_missing_cascade_is_a_clear_error() -> None:
    with pytest.raises(FileNotFoundError, match="Haar cascade"):
        FaceEngine(FaceSettings(cascade_path="/nonexistent.xml", instances=1))


def test_tiny_and_grey_images(engine: FaceEngine) -> None:
    assert len(engine.detect(np.zeros((1, 1, 3), np.uint8))) == 0
    assert len(engine.detect(np.zeros((50, 50), np.uint8))) == 0
