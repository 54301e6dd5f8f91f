"""The trainer's real parts: the YOLO backbone, a Kafka-protocol broker (Tansu), a store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from classification.features import BackboneFeatures
from meshtools.kafka_broker import LocalBroker


@pytest.fixture(scope="module")
def features(model_dir: str) -> BackboneFeatures:
    return BackboneFeatures(Path(model_dir) / "yolov3-tiny.cfg", Path(model_dir) / "yolov3-tiny.weights")


@pytest.fixture
def kafka_broker() -> Iterator[str]:
    """A real Kafka-protocol broker (Tansu, `make kafka-broker`) on a loopback port, memory storage."""
    with LocalBroker() as broker:
        yield broker.bootstrap
