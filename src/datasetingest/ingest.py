"""From a checked upload to a dataset version in the store, then the trigger.

Nothing here knows HTTP. The dataset is written by the store's atomic publish (a refused
or failed upload leaves no version behind), then the trigger is emitted; if the trigger
fails the version stays (it is complete and valid) and the error says how to train it.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasetingest.archive import ArchiveLimits, repack
from modelstore.events import DatasetPublished, TriggerError, TriggerSink
from modelstore.names import check_name
from modelstore.store import ModelStore

log = logging.getLogger(__name__)

DATASET_ENGINE = "classifier"
DATASET_FORMAT = "labelled-images-zip-v1"
IMAGES_FILE = "images.zip"
INDEX_FILE = "index.json"


@dataclass(frozen=True)
class Ingested:
    dataset: str
    version: str
    labels: dict[str, int]
    skipped: int
    trigger: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "version": self.version,
            "labels": self.labels,
            "images": sum(self.labels.values()),
            "skipped": self.skipped,
            "trigger": self.trigger,
        }


class TriggerFailed(Exception):
    """The dataset is stored, but the trainer could not be told."""

    def __init__(self, ingested: Ingested, error: TriggerError) -> None:
        super().__init__(
            f"dataset {ingested.dataset} {ingested.version} is stored, but the training trigger failed "
            f"({error}); train it with: python -m modeltrainer --dataset {ingested.dataset} "
            f"--dataset-version {ingested.version}"
        )
        self.ingested = ingested


class Ingestor:
    def __init__(self, store: ModelStore, sink: TriggerSink, limits: ArchiveLimits, work_dir: Path) -> None:
        self.store = store
        self.sink = sink
        self.limits = limits
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)

    def ingest(self, upload: Path, edge_id: str, *, upload_bytes: int) -> Ingested:
        """Check and repack `upload`, publish it as dataset `edge_id`, emit the trigger."""
        dataset = check_name(edge_id, "edgeId")
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="repack-") as tmp:
            images = Path(tmp) / IMAGES_FILE
            plan, index = repack(upload, images, self.limits)
            index_path = Path(tmp) / INDEX_FILE
            index_path.write_text(json.dumps({"labels": index}, indent=1, sort_keys=True))
            labels = plan.counts
            stored = self.store.publish(
                dataset,
                {IMAGES_FILE: images, INDEX_FILE: index_path},
                kind="dataset",
                engine=DATASET_ENGINE,
                format=DATASET_FORMAT,
                metrics={"images": sum(labels.values()), "labels": len(labels)},
                meta={"edge_id": edge_id, "labels": labels, "upload_bytes": upload_bytes},
            )
        ingested = Ingested(dataset, stored.version, labels, len(plan.skipped), self.sink.describe)
        log.info(
            "dataset %s %s stored: %d images in %d labels",
            dataset,
            stored.version,
            sum(labels.values()),
            len(labels),
            extra={"dataset": dataset, "version": stored.version, "edge_id": edge_id},
        )
        event = DatasetPublished(dataset, stored.version, edge_id=edge_id, labels=labels, at=time.time())
        try:
            self.sink.emit(event)
        except TriggerError as error:
            raise TriggerFailed(ingested, error) from error
        return ingested
