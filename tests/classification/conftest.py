"""The classification tests' backbone: the YOLO network `make models` fetches, at its default layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from classification.features import BackboneFeatures


@pytest.fixture(scope="module")
def features(model_dir: str) -> BackboneFeatures:
    return BackboneFeatures(Path(model_dir) / "yolov3-tiny.cfg", Path(model_dir) / "yolov3-tiny.weights")
