"""Fixtures shared by the gateway's tests."""

from __future__ import annotations

import pytest

from meshtools.camera_emulator import load_frames


@pytest.fixture(scope="module")
def jpegs() -> list[bytes]:
    """The frames the emulated cameras serve: the astronaut (a face) and the cameraman (a person)."""
    return load_frames("samples:astronaut,camera")
