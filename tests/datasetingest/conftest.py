"""A real ingest server on a loopback port, with a store, trigger directory and scratch dir of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ingestkit import Ingest, start_ingest


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[Ingest]:
    service = start_ingest(tmp_path)
    yield service
    service.handle.stop()
