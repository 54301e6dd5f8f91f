"""Fixtures for the robot client's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from robot_fakes import FakeMesh


@pytest.fixture
def fake_mesh() -> Iterator[FakeMesh]:
    mesh = FakeMesh().start()
    yield mesh
    mesh.stop()
