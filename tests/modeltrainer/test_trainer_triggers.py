"""Triggers reach the trainer: through a real Kafka-protocol broker, or the queue directory."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path

from trainerkit import ingest_sample

from classification.features import BackboneFeatures
from datasetingest.service import build_parser, limits_from, start
from modelstore import open_store
from modelstore.events import DirectorySource, KafkaSource, TriggerSource
from modeltrainer.pipeline import Trainer, TrainOutcome, TrainSettings
from modeltrainer.sample_dataset import sample_zip_bytes
from modeltrainer.service import listen


def train_until_one_outcome(trainer: Trainer, source: TriggerSource) -> list[TrainOutcome]:
    stop = threading.Event()
    outcomes: list[TrainOutcome] = []

    def record(outcome: TrainOutcome) -> None:
        outcomes.append(outcome)
        stop.set()

    worker = threading.Thread(target=listen, args=(trainer, source, stop, record))
    worker.start()
    worker.join(120)
    stop.set()
    worker.join(10)
    return outcomes


def test_an_upload_over_http_trains_through_kafka(
    tmp_path: Path, kafka_broker: str, features: BackboneFeatures
) -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["--port", "0", "--store", str(tmp_path / "store"), "--work-dir", str(tmp_path / "work"),
         "--kafka-bootstrap", kafka_broker, "--kafka-topic", "edge.datasets"]
    )  # fmt: skip
    ingest = start(args, limits_from(parser, args))
    try:
        assert ingest.sink.describe == f"kafka:edge.datasets@{kafka_broker}"
        connection = http.client.HTTPConnection("127.0.0.1", ingest.port, timeout=60)
        connection.request("PUT", "/zip?edgeId=edge2", body=sample_zip_bytes(per_label=6))
        response = connection.getresponse()
        uploaded = json.loads(response.read())
        assert response.status == 201, uploaded
    finally:
        ingest.stop()
    store = open_store(str(tmp_path / "store"))
    source = KafkaSource(kafka_broker, "edge.datasets", group="trainers")
    try:
        [outcome] = train_until_one_outcome(
            Trainer(store, features, tmp_path / "cache", TrainSettings()), source
        )
    finally:
        source.close()
    assert (outcome.dataset, outcome.dataset_version) == ("edge2", uploaded["version"])
    assert outcome.published is not None
    assert store.channel("classifier", "production").version == outcome.published.version


def test_the_queue_directory_feeds_the_trainer_and_keeps_failures_aside(
    tmp_path: Path, features: BackboneFeatures
) -> None:
    store = open_store(str(tmp_path / "store"))
    queue = tmp_path / "triggers"
    queue.mkdir()
    (queue / "00-garbage.json").write_text("{not json")
    (queue / "00-missing.json").write_text(
        json.dumps({"type": "dataset.published", "dataset": "edge7", "version": "v404"})
    )
    version = ingest_sample(store, tmp_path, per_label=6)
    trainer = Trainer(store, features, tmp_path / "cache", TrainSettings())
    [outcome] = train_until_one_outcome(trainer, DirectorySource(queue, poll_interval_s=0.05))
    assert (outcome.dataset_version, outcome.published is not None) == (version, True)
    assert sorted(p.name for p in (queue / "failed").iterdir()) == [
        "00-garbage.json",
        "00-garbage.json.reason",
        "00-missing.json",
        "00-missing.json.reason",
    ]
    assert (
        "dataset edge7 has no published version v404"
        in (queue / "failed" / "00-missing.json.reason").read_text()
    )
    assert [p.name.endswith(f"-edge1-{version}.json") for p in (queue / "done").iterdir()] == [True]
    assert list(queue.glob("*.json")) == []
