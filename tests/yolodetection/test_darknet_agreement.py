"""The comparison the backend agreement tests use has teeth.

(The agreement of every backend pair itself: test_backend_agreement.py.)

A 2% change to one conv layer of the PyTorch backend, or the official tiny mask (1,2,3
instead of the cfg's 0,1,2), must be caught against OpenCV's rows and detections.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from agreement_checks import (
    ROW_ATOL,
    detection_disagreements,
    engine_for,
    row_disagreement,
)

from yolodetection.backends.opencv_dnn import OpenCVBackend
from yolodetection.backends.torch_backend import TorchBackend, TorchOptions
from yolodetection.engine import make_blob
from yolodetection.model_files import ModelFiles

CPU = TorchOptions(device="cpu")


@pytest.fixture(scope="module")
def opencv_backend(files: ModelFiles) -> OpenCVBackend:
    return OpenCVBackend(files, prefer_cuda=False)


@pytest.fixture(scope="module")
def torch_backend(files: ModelFiles) -> TorchBackend:
    return TorchBackend.from_files(files, CPU)


@pytest.fixture(scope="module")
def opencv_rows(opencv_backend: OpenCVBackend, images: dict[str, np.ndarray], files: ModelFiles) -> list:
    return opencv_backend.forward(make_blob(list(images.values()), files.input_size()))


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
