"""Events out to Kafka, frames in from Kafka (the inspection line's architecture).

Out: every answer is published as JSON to the events topic, keyed by camera (or robot) id, so
one camera's events share a partition and keep their order. The producer allows one request
in flight per connection, which keeps that order across retries without the idempotent
producer (whose producer id a restarted broker may not know). Its buffer is bounded
(`buffer_messages`); when the broker is down, events wait there until `message_timeout_s`,
then count as dropped, and a full buffer drops new events at once: the cameras and the
dashboard never wait for Kafka. librdkafka reconnects on its own.

In: JPEG frames on the frames topic (key = camera id) are detected by the mesh one at a time,
in order, and their answers published like any camera's (the frame number is the frame's
offset in its partition); a frame the mesh refuses gets an event with an `error`, so every
frame is answered.

confluent-kafka is an optional extra (`pip install liquidedge[kafka]`); it is imported only
when Kafka is configured.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from cameragateway.camera import Frame
from cameragateway.events import error_event
from cameragateway.meshlink import answer_from_response
from cameragateway.metrics import GatewayMetrics
from liquidedge.v1 import detection_pb2, detection_pb2_grpc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str
    events_topic: str = "liquidedge.events"
    frames_topic: str = "liquidedge.frames"
    group_id: str = "cameragateway"
    create_topics: bool = True
    partitions: int = 3
    buffer_messages: int = 10_000
    message_timeout_s: float = 10.0
    client_id: str = "cameragateway"


def _import_kafka() -> Any:
    try:
        import confluent_kafka
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        raise RuntimeError(
            "Kafka is configured but confluent-kafka is not installed: pip install 'liquidedge[kafka]'"
        ) from error
    return confluent_kafka


def create_topics(settings: KafkaSettings, topics: list[str], timeout_s: float = 10.0) -> list[str]:
    """Create `topics` (ignoring those that exist); returns the ones that could not be created."""
    kafka = _import_kafka()
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": settings.bootstrap, "client.id": settings.client_id + "-admin"})
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=settings.partitions, replication_factor=1) for t in topics],
        request_timeout=timeout_s,
        operation_timeout=timeout_s,
    )
    failed = []
    for topic, future in futures.items():
        try:
            future.result(timeout_s)
            log.info("kafka topic created", extra={"topic": topic})
        except kafka.KafkaException as error:
            if error.args[0].code() == kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            log.warning("kafka topic not created: %s", error, extra={"topic": topic})
            failed.append(topic)
        except TimeoutError:  # the broker is not there (yet): publishing buffers and retries
            log.warning(
                "kafka topic not created: no broker answered in %gs", timeout_s, extra={"topic": topic}
            )
            failed.append(topic)
    return failed


class KafkaEvents:
    """The events producer: `publish` never blocks; what cannot be delivered is counted."""

    def __init__(self, settings: KafkaSettings, metrics: GatewayMetrics) -> None:
        kafka = _import_kafka()
        self.settings = settings
        self.metrics = metrics
        self._kafka = kafka
        self._lock = threading.Lock()
        self.published = 0
        self.dropped: Counter[str] = Counter()
        self.broker_up = False
        self.last_error = ""
        self._producer = kafka.Producer(
            {
                "bootstrap.servers": settings.bootstrap,
                "client.id": settings.client_id,
                "linger.ms": 5,
                "max.in.flight.requests.per.connection": 1,
                "enable.idempotence": False,
                "queue.buffering.max.messages": settings.buffer_messages,
                "message.timeout.ms": round(settings.message_timeout_s * 1000),
                "reconnect.backoff.ms": 200,
                "reconnect.backoff.max.ms": 2000,
                "error_cb": self._on_error,
                "logger": logging.getLogger("cameragateway.kafka.librdkafka"),
            }
        )
        self.flush_s = 2.0  # how long `close` waits for buffered events
        self._topic_missing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-events", daemon=True)

    def start(self) -> KafkaEvents:
        self._thread.start()
        return self

    def publish(self, key: str, event: dict[str, Any]) -> None:
        value = json.dumps(event, separators=(",", ":")).encode()
        try:
            self._producer.produce(
                self.settings.events_topic, key=key.encode(), value=value, on_delivery=self._on_delivery
            )
        except BufferError:
            self._drop("buffer_full")
        except self._kafka.KafkaException as error:
            self._drop("produce_failed")
            self.last_error = str(error)

    def _drop(self, reason: str) -> None:
        with self._lock:
            self.dropped[reason] += 1
        self.metrics.events_dropped.labels(reason).inc()

    def _on_delivery(self, error: Any, _message: Any) -> None:
        if error is None:
            with self._lock:
                self.published += 1
                self.broker_up = True
            self.metrics.events_published.inc()
            return
        reason = "timed_out" if error.code() == self._kafka.KafkaError._MSG_TIMED_OUT else "delivery_failed"
        self.last_error = error.str()
        if error.code() in (
            self._kafka.KafkaError.UNKNOWN_TOPIC_OR_PART,
            self._kafka.KafkaError._UNKNOWN_TOPIC,
        ):
            self._topic_missing = True  # a broker that lost its topics (restarted, memory storage)
        self._drop(reason)

    def _on_error(self, error: Any) -> None:
        self.last_error = error.str()
        if error.code() in (self._kafka.KafkaError._ALL_BROKERS_DOWN, self._kafka.KafkaError._TRANSPORT):
            if self.broker_up:
                log.warning("kafka broker unreachable: %s", error.str())
            self.broker_up = False

    def _poll(self) -> None:
        last_create = 0.0
        while not self._stop.is_set():
            self._producer.poll(0.2)
            self.metrics.events_buffered.set(len(self._producer))
            if self._topic_missing and self.settings.create_topics and time.monotonic() - last_create > 5.0:
                last_create = time.monotonic()
                self._topic_missing = False
                create_topics(self.settings, [self.settings.events_topic], timeout_s=2.0)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "enabled": True,
                "bootstrap": self.settings.bootstrap,
                "events_topic": self.settings.events_topic,
                "frames_topic": self.settings.frames_topic,
                "broker_up": self.broker_up,
                "published": self.published,
                "dropped": sum(self.dropped.values()),
                "dropped_by_reason": dict(self.dropped),
                "buffered": len(self._producer),
                "last_error": self.last_error,
            }

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        left = self._producer.flush(self.flush_s)
        if left:
            log.warning("kafka: %d events still unsent at shutdown", left)


class KafkaFrames:
    """Consumes the frames topic; each frame is detected (unary v1 `Detect`) and answered as an event."""

    def __init__(
        self,
        settings: KafkaSettings,
        channel: grpc.Channel,
        publish_answer: Callable[..., dict[str, Any]],
        events: KafkaEvents,
        metrics: GatewayMetrics,
        *,
        deadline_s: float,
        gateway_name: str,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        kafka = _import_kafka()
        self.settings = settings
        self._stub = detection_pb2_grpc.DetectorStub(channel)
        self._publish_answer = publish_answer
        self._events = events
        self._metrics = metrics
        self._deadline_s = deadline_s
        self._gateway = gateway_name
        self._metadata = metadata
        self.answered = 0
        self.failed = 0
        self._consumer = kafka.Consumer(
            {
                "bootstrap.servers": settings.bootstrap,
                "group.id": settings.group_id,
                "client.id": settings.client_id + "-frames",
                "auto.offset.reset": "earliest",
                # At least once: an offset is stored for commit only after its answer is published.
                "enable.auto.commit": True,
                "enable.auto.offset.store": False,
                # Join (and notice a dead member) in seconds, not the default 45 s.
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
                "reconnect.backoff.max.ms": 2000,
                "logger": logging.getLogger("cameragateway.kafka.librdkafka"),
            }
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafka-frames", daemon=True)

    def start(self) -> KafkaFrames:
        self._consumer.subscribe([self.settings.frames_topic])
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                log.debug("kafka frames: %s", message.error())
                continue
            try:
                self._detect(message)
            except Exception:
                log.exception("kafka frame not handled")
            self._consumer.store_offsets(message)

    def _detect(self, message: Any) -> None:
        source = (message.key() or b"").decode("utf-8", "replace") or "kafka"
        number = int(message.offset())  # the frame's offset: it names the frame in the topic
        _kind, stamp_ms = message.timestamp()
        capture_s = stamp_ms / 1000.0 if stamp_ms and stamp_ms > 0 else time.time()
        frame = Frame(number, capture_s, time.monotonic(), message.value() or b"")
        request = detection_pb2.DetectRequest(
            frame=detection_pb2.Frame(
                number=number, capture_time_us=round(capture_s * 1e6), jpeg=frame.jpeg, source_id=source
            ),
            deadline_ms=round(self._deadline_s * 1000),
        )
        started = time.monotonic()
        try:
            response = self._stub.Detect(request, timeout=self._deadline_s, metadata=self._metadata)
        except grpc.RpcError as error:
            self.failed += 1
            self._metrics.kafka_frames.labels("failed").inc()
            event = error_event(
                source, "kafka", number, capture_s, error.code().name, error.details() or "", self._gateway
            )
            self._events.publish(source, event)
            return
        answer = answer_from_response(frame, response, time.monotonic() - started, time.time())
        self.answered += 1
        self._metrics.kafka_frames.labels("answered").inc()
        self._publish_answer(source, "kafka", answer)

    def stats(self) -> dict[str, Any]:
        return {"frames_answered": self.answered, "frames_failed": self.failed}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._consumer.close()
