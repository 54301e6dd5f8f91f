"""Fixtures for the robot client's tests: a fake mesh, and the real one as processes."""

from __future__ import annotations

from collections.abc import Iterator

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
