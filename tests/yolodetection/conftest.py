"""YOLO test fixtures: the Darknet model converted to ONNX once per test session.

The conversion is the production one (`yolodetection.onnx_export`), cached in a session
temporary directory keyed by the cfg's and weights' hashes, so every test that needs the
ONNX file or a graph backend shares one conversion.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from agreement_checks import agreement_images

from yolodetection.model_files import ModelFiles
from yolodetection.model_version import ModelVersion
from yolodetection.onnx_export import ensure_onnx


@pytest.fixture(scope="session")
def files(model_dir: str) -> ModelFiles:
    return ModelFiles.in_dir(model_dir)


@pytest.fixture(scope="session")
def images() -> dict[str, np.ndarray]:
    """The agreement tests' real frames (agreement_checks.agreement_images)."""
    return agreement_images()


@pytest.fixture(scope="session")
def converted_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("converted")


@pytest.fixture(scope="session")
def fp32_version(model_dir: str, converted_cache: Path) -> ModelVersion:
    return ensure_onnx(ModelFiles.in_dir(model_dir), converted_cache)
