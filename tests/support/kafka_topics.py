"""Reading a Kafka topic from its start in tests (the local Tansu broker, confluent-kafka)."""

from __future__ import annotations

import json
import time
from collections import defaultdict

import confluent_kafka as kafka


class TopicReader:
    """Every message of a topic from the start, in partition order, as (key, event)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = kafka.Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "test-reader", "enable.auto.commit": False}
        )
        metadata = self.consumer.list_topics(topic, timeout=10)
        partitions = list(metadata.topics[topic].partitions)
        self.consumer.assign([kafka.TopicPartition(topic, p, kafka.OFFSET_BEGINNING) for p in partitions])
        self.messages: list[tuple[str, dict]] = []

    def read(self, seconds: float = 0.5) -> list[tuple[str, dict]]:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            message = self.consumer.poll(0.1)
            if message is not None and not message.error():
                self.messages.append((message.key().decode(), json.loads(message.value())))
        return self.messages

    def by_key(self) -> dict[str, list[dict]]:
        grouped: dict[str, list[dict]] = defaultdict(list)
        for key, event in self.messages:
            grouped[key].append(event)
        return grouped

    def close(self) -> None:
        self.consumer.close()
