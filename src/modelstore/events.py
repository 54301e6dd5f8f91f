"""The trigger between the dataset ingest and the trainer: "dataset D version V is ready".

Two transports behind one pair of interfaces. With a Kafka broker configured, the ingest
produces to a topic and the trainer consumes it in a consumer group (commit after the work
is done: a trainer that dies mid-training gets the dataset again). Without one, a queue
directory: the ingest writes one JSON file per event (written under a dot-name, then
renamed, so the trainer never reads half a file) and the trainer moves each file to
`done/` or `failed/` when it has dealt with it. confluent-kafka (the `kafka` extra) is
imported only when a broker is configured.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from modelstore.names import check_name, check_version

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "liquidedge.datasets"


class TriggerError(RuntimeError):
    """The event could not be handed to the transport (broker down, queue not writable)."""


@dataclass(frozen=True)
class DatasetPublished:
    """A dataset version is in the store and ready to train from."""

    dataset: str
    version: str
    edge_id: str = ""
    labels: Mapping[str, int] = field(default_factory=dict)
    at: float = 0.0

    def __post_init__(self) -> None:
        check_name(self.dataset, "dataset name")
        check_version(self.version)

    def to_json(self) -> bytes:
        return json.dumps({"type": "dataset.published", **asdict(self)}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> DatasetPublished:
        """Parse an event; ValueError for anything that is not a dataset.published event."""
        try:
            raw = json.loads(data)
            if raw.get("type") != "dataset.published":
                raise ValueError(f"unknown event type {raw.get('type')!r}")
            return cls(
                dataset=raw["dataset"],
                version=raw["version"],
                edge_id=str(raw.get("edge_id", "")),
                labels={str(k): int(v) for k, v in dict(raw.get("labels", {})).items()},
                at=float(raw.get("at", 0.0)),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as error:
            raise ValueError(f"not a dataset event: {error}") from error


class TriggerSink(Protocol):
    describe: str

    def emit(self, event: DatasetPublished) -> None: ...

    def close(self) -> None: ...


@dataclass
class Received:
    """One event taken from a source; call `done()` once it is dealt with (or `failed()`)."""

    event: DatasetPublished
    done: Callable[[], None]
    failed: Callable[[str], None]


class TriggerSource(Protocol):
    describe: str

    def receive(self, timeout_s: float) -> Received | None: ...

    def close(self) -> None: ...


# ---- queue directory (the local fallback) ------------------------------------------------
class DirectorySink:
    def __init__(self, queue_dir: Path) -> None:
        self.queue_dir = Path(queue_dir)
        self.queue_dir.mkdir(parents=True, exist_ok=True)
        self.describe = f"dir:{self.queue_dir}"

    def emit(self, event: DatasetPublished) -> None:
        name = f"{time.time_ns():020d}-{event.dataset}-{event.version}.json"
        temporary = self.queue_dir / f".{uuid.uuid4().hex}.tmp"
        try:
            temporary.write_bytes(event.to_json())
            os.replace(temporary, self.queue_dir / name)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise TriggerError(f"cannot write the trigger to {self.queue_dir}: {error}") from error

    def close(self) -> None:
        pass


class DirectorySource:
    def __init__(self, queue_dir: Path, *, poll_interval_s: float = 0.5) -> None:
        self.queue_dir = Path(queue_dir)
        for sub in ("done", "failed"):
            (self.queue_dir / sub).mkdir(parents=True, exist_ok=True)
        self.poll_interval_s = poll_interval_s
        self.describe = f"dir:{self.queue_dir}"

    def _move(self, path: Path, where: str, reason: str = "") -> None:
        path.replace(self.queue_dir / where / path.name)
        if reason:
            (self.queue_dir / where / (path.name + ".reason")).write_text(reason + "\n")

    def receive(self, timeout_s: float) -> Received | None:
        deadline = time.monotonic() + timeout_s
        while True:
            for path in sorted(self.queue_dir.glob("[!.]*.json")):
                try:
                    event = DatasetPublished.from_json(path.read_bytes())
                except (OSError, ValueError) as error:
                    log.warning("trigger %s is unreadable (%s); moved to failed/", path.name, error)
                    self._move(path, "failed", str(error))
                    continue
                return Received(
                    event,
                    done=lambda p=path: self._move(p, "done"),
                    failed=lambda reason, p=path: self._move(p, "failed", reason),
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(self.poll_interval_s, remaining))

    def close(self) -> None:
        pass


# ---- Kafka -------------------------------------------------------------------------------
def _ensure_topic(bootstrap: str, topic: str, timeout_s: float) -> None:
    """Create the topic when missing (brokers such as Tansu do not auto-create)."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    try:
        futures[topic].result(timeout_s)
        log.info("created Kafka topic %s", topic)
    except KafkaException as error:
        if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise TriggerError(f"cannot create Kafka topic {topic} on {bootstrap}: {error}") from error


class KafkaSink:
    def __init__(self, bootstrap: str, topic: str = DEFAULT_TOPIC, *, timeout_s: float = 10.0) -> None:
        from confluent_kafka import Producer

        _ensure_topic(bootstrap, topic, timeout_s)
        self.topic = topic
        self.timeout_s = timeout_s
        self.describe = f"kafka:{topic}@{bootstrap}"
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "message.timeout.ms": int(timeout_s * 1000)}
        )

    def emit(self, event: DatasetPublished) -> None:
        outcome: list[Any] = []
        self._producer.produce(
            self.topic,
            key=event.dataset.encode(),
            value=event.to_json(),
            on_delivery=lambda error, _message: outcome.append(error),
        )
        self._producer.flush(self.timeout_s)
        if not outcome or outcome[0] is not None:
            reason = outcome[0] if outcome else f"not delivered within {self.timeout_s} s"
            raise TriggerError(f"Kafka trigger to {self.describe} failed: {reason}")

    def close(self) -> None:
        self._producer.flush(self.timeout_s)


class KafkaSource:
    def __init__(
        self,
        bootstrap: str,
        topic: str = DEFAULT_TOPIC,
        *,
        group: str = "modeltrainer",
        timeout_s: float = 10.0,
    ) -> None:
        from confluent_kafka import Consumer

        _ensure_topic(bootstrap, topic, timeout_s)
        self.describe = f"kafka:{topic}@{bootstrap} (group {group})"
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                # one trainer per group in practice: notice a dead one in seconds, not 45 s
                "session.timeout.ms": 6000,
            }
        )
        self._consumer.subscribe([topic])

    def receive(self, timeout_s: float) -> Received | None:
        message = self._consumer.poll(timeout_s)
        if message is None:
            return None
        if message.error():
            log.warning("Kafka: %s", message.error())
            return None

        def commit(reason: str = "") -> None:
            if reason:
                log.warning("dataset event at offset %d failed: %s", message.offset(), reason)
            self._consumer.commit(message, asynchronous=False)

        try:
            event = DatasetPublished.from_json(message.value())
        except ValueError as error:
            commit(str(error))  # a poison message must not block the partition
            return None
        return Received(event, done=commit, failed=commit)

    def close(self) -> None:
        self._consumer.close()


def open_sink(*, kafka_bootstrap: str, topic: str, queue_dir: Path) -> TriggerSink:
    return KafkaSink(kafka_bootstrap, topic) if kafka_bootstrap else DirectorySink(queue_dir)


def open_source(*, kafka_bootstrap: str, topic: str, queue_dir: Path, group: str) -> TriggerSource:
    if kafka_bootstrap:
        return KafkaSource(kafka_bootstrap, topic, group=group)
    return DirectorySource(queue_dir)
