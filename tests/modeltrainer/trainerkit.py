"""Put the sample terrain dataset into a store the way the ingest does."""

from __future__ import annotations

from pathlib import Path

from datasetingest.archive import ArchiveLimits
from datasetingest.ingest import Ingestor
from modelstore import ModelStore
from modelstore.events import DirectorySink
from modeltrainer.sample_dataset import sample_zip_bytes


def ingest_sample(store: ModelStore, root: Path, *, per_label: int, edge: str = "edge1") -> str:
    """Ingest the sample zip as dataset `edge`; returns the dataset version (a trigger lands in root/triggers)."""
    upload = root / "upload.zip"
    upload.write_bytes(sample_zip_bytes(per_label=per_label))
    ingestor = Ingestor(store, DirectorySink(root / "triggers"), ArchiveLimits(), root / "work")
    return ingestor.ingest(upload, edge, upload_bytes=upload.stat().st_size).version
