"""A real ingest server on a loopback port, with a store, trigger directory and scratch dir of its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from datasetingest.service import IngestHandle, build_parser, limits_from, start
from modelstore import ModelStore, open_store


@dataclass
class Ingest:
    handle: IngestHandle
    store: ModelStore
    root: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.handle.port}"

    def triggers(self) -> list[Path]:
        return sorted((self.root / "triggers").glob("*.json"))

    def leftovers(self) -> list[str]:
        """Anything an upload left behind: scratch files, staged or published versions."""
        found = [str(p.relative_to(self.root)) for p in (self.root / "work").rglob("*")]
        found += [str(p.relative_to(self.root)) for p in (self.root / "store").rglob("*") if p.is_file()]
        return found


def start_ingest(root: Path, *extra: str) -> Ingest:
    parser = build_parser()
    args = parser.parse_args(
        [
            "--port", "0",
            "--store", str(root / "store"),
            "--trigger-dir", str(root / "triggers"),
            "--work-dir", str(root / "work"),
            "--max-upload-bytes", str(16 * 1024 * 1024),
            "--max-total-bytes", str(4 * 1024 * 1024),
            "--max-entries", "200",
            *extra,
        ]
    )  # fmt: skip
    handle = start(args, limits_from(parser, args))
    return Ingest(handle, open_store(str(root / "store")), root)


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[Ingest]:
    service = start_ingest(tmp_path)
    yield service
    service.handle.stop()
