"""Fixtures for the robot client's tests: a fake mesh, and the real one as processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from robot_fakes import FakeMesh

from meshtools.localmesh import LocalMesh


@pytest.fixture
def fake_mesh() -> Iterator[FakeMesh]:
    mesh = FakeMesh().start()
    yield mesh
    mesh.stop()


@pytest.fixture(scope="session")
def photo_dir(model_dir: str) -> Path:
    """The real photos the simulator's named people are made of (`make recognition-models`)."""
    path = Path(model_dir) / "face-photos"
    if not (path / "obama3.jpg").is_file() or not (path / "biden.jpg").is_file():
        pytest.fail(f"photos missing from {path}: run `make recognition-models` (make test does it)")
    return path


@pytest.fixture(scope="session")
def gallery_store(tmp_path_factory: pytest.TempPathFactory, model_dir: str, photo_dir: Path) -> Path:
    """A model store of the tests' own holding the default gallery (Obama, Biden), as `make run` has."""
    store = tmp_path_factory.mktemp("robot-mesh") / "store"
    command = [
        sys.executable,
        "-m",
        "facerecognition.cli",
        "--model-dir",
        model_dir,
        "--model-store",
        str(store),
    ]
    env = {**os.environ, "MODELSTORE_CACHE_DIR": str(store.parent / "cli-cache")}
    result = subprocess.run([*command, "default"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return store


@pytest.fixture(scope="session")
def real_mesh(model_dir: str, gallery_store: Path) -> Iterator[LocalMesh]:
    """Face, YOLO, recognition and aggregator as real processes on loopback (what `make run` starts)."""
    cache = str(gallery_store.parent / "cache")
    with LocalMesh(model_dir=model_dir, model_store=str(gallery_store), model_cache_dir=cache) as mesh:
        yield mesh
