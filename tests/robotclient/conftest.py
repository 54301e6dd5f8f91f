"""Fixtures for the robot client's tests: a fake mesh, and the real one as processes."""

from __future__ import annotations

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
def real_mesh(model_dir: str) -> Iterator[LocalMesh]:
    """Face, YOLO and aggregator as real processes on loopback (what `make run` starts)."""
    with LocalMesh(model_dir=model_dir) as mesh:
        yield mesh


@pytest.fixture(scope="session")
def photo_dir(model_dir: str) -> Path:
    """The real photos the simulator's named people are made of (`make recognition-models`)."""
    path = Path(model_dir) / "face-photos"
    if not (path / "obama3.jpg").is_file() or not (path / "biden.jpg").is_file():
        pytest.fail(f"photos missing from {path}: run `make recognition-models` (make test does it)")
    return path
