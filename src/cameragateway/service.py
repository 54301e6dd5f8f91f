"""The camera gateway as a service: flags (flags.py) → mesh channel → cameras → HTTP (+ Kafka, metrics).

`start(args)` is what `__main__` runs and what the tests call (bound to port 0). Each step
is entered on one ExitStack, so a failure at step N closes steps 1..N-1.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cameragateway.camera import HealthSettings
from cameragateway.events import EventHub
from cameragateway.flags import (
    DEFAULT_METRICS_PORT,
    DEFAULT_PORT,
    PROTOCOL,
    build_parser,
    check_args,
)
from cameragateway.fleet import CameraFleet, FleetSettings
from cameragateway.meshlink import LinkSettings
from cameragateway.metrics import GatewayMetrics
from cameragateway.puller import PullSettings
from cameragateway.registration import TokenCheck, read_cameras_file
from cameragateway.web import GatewayHttp, WebSettings
from liquidedge.client_channel import STREAMING_CLIENT_OPTIONS
from liquidedge.hostinfo import HostInfo
from liquidedge.metrics import serve_metrics
from liquidedge.security import channel_credentials, read_token, read_tokens
from liquidedge.server import wait_for_signal

log = logging.getLogger(__name__)

# The program's surface, as every service's `service` module offers it.
__all__ = [
    "DEFAULT_METRICS_PORT",
    "DEFAULT_PORT",
    "PROTOCOL",
    "GatewayHandle",
    "build_parser",
    "check_args",
    "start",
]


class MeshProbe:
    """Asks the aggregator's grpc.health.v1 every `interval_s`, for the dashboard's mesh badge."""

    def __init__(self, channel: grpc.Channel, address: str, interval_s: float = 2.0) -> None:
        self.address = address
        self.status = "UNKNOWN"
        self._stub = health_pb2_grpc.HealthStub(channel)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mesh-probe", daemon=True)

    def start(self) -> MeshProbe:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            try:
                reply = self._stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.RpcError as error:
                status = error.code().name
            if status != self.status:
                log.info("mesh %s", status, extra={"mesh": self.address, "was": self.status})
                self.status = status
            if self._stop.wait(self._interval_s):
                return

    def stats(self) -> dict[str, Any]:
        return {"address": self.address, "status": self.status}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(3.0)


@dataclass
class GatewayHandle:
    """A started gateway; `stop` closes everything in reverse order of start."""

    http: GatewayHttp
    fleet: CameraFleet
    metrics: GatewayMetrics
    metrics_port: int | None
    kafka: Any
    _stack: contextlib.ExitStack = field(repr=False)

    @property
    def port(self) -> int:
        return self.http.port

    def stop(self, grace_s: float = 1.0) -> None:
        self.http.draining.set()
        if self.kafka is not None:
            self.kafka.flush_s = grace_s  # events still buffered get this long to leave
        self._stack.close()
        log.info("stopped", extra={"service_name": "cameragateway"})

    def serve_until_signalled(self, grace_s: float) -> None:
        reason = wait_for_signal()
        log.info("shutting down", extra={"reason": reason, "grace_s": grace_s})
        self.stop(grace_s)


def fleet_settings(args: argparse.Namespace, gateway_name: str) -> FleetSettings:
    deadline_s = args.deadline_ms / 1000.0
    return FleetSettings(
        pull=PullSettings(
            connect_timeout_s=args.connect_timeout_s,
            stall_timeout_s=args.stall_timeout_s,
            max_part_bytes=args.max_part_bytes,
            backoff_max_s=max(args.reconnect_max_s, 0.5),
        ),
        link=LinkSettings(
            max_fps=args.max_fps,
            deadline_s=deadline_s,
            engines=tuple(args.engines),
            min_confidence=args.min_confidence,
        ),
        health=HealthSettings(offline_after_s=args.offline_after_s, degraded_window_s=args.degraded_window_s),
        max_in_flight=args.max_in_flight,
        max_cameras=args.max_cameras,
        remove_after_s=args.remove_after_s,
        gateway_name=gateway_name,
    )


def mesh_channel(args: argparse.Namespace) -> grpc.Channel:
    """One channel for every camera's stream, reconnecting quickly (the runtime's client options)."""
    if args.mesh_tls_ca:
        return grpc.secure_channel(
            args.mesh_addr, channel_credentials(args.mesh_tls_ca), options=STREAMING_CLIENT_OPTIONS
        )
    return grpc.insecure_channel(args.mesh_addr, options=STREAMING_CLIENT_OPTIONS)


def _tokens(path: str) -> TokenCheck:
    return TokenCheck(read_tokens(path) if path else ())


def start(args: argparse.Namespace) -> GatewayHandle:
    gateway_name = HostInfo.detect().hostname
    stack = contextlib.ExitStack()
    with stack:
        metrics = GatewayMetrics()
        metrics_port = stack.enter_context(serve_metrics(metrics.registry, args.host, args.metrics_port))
        channel = mesh_channel(args)
        stack.callback(channel.close)
        metadata = (
            (("authorization", f"Bearer {read_token(args.mesh_token_file)}"),) if args.mesh_token_file else ()
        )
        probe = MeshProbe(channel, args.mesh_addr).start()
        stack.callback(probe.close)
        hub = EventHub()
        kafka_parts: dict[str, Any] = {}

        def extra_state() -> dict[str, Any]:
            kafka: dict[str, Any] = {"enabled": False}
            if "events" in kafka_parts:
                kafka = kafka_parts["events"].stats()
                if "frames" in kafka_parts:
                    kafka.update(kafka_parts["frames"].stats())
            return {"mesh": probe.stats(), "kafka": kafka, "viewers": hub.subscribers}

        sinks: tuple[Any, ...] = ()
        if args.kafka_bootstrap:
            kafka_parts["events"] = _start_kafka_events(args, metrics, stack)
            sinks = (kafka_parts["events"],)
        fleet = CameraFleet(
            channel,
            fleet_settings(args, gateway_name),
            hub,
            metrics,
            sinks=sinks,
            metadata=metadata,
            extra_state=extra_state,
        )
        stack.callback(fleet.close)
        if args.kafka_bootstrap and args.kafka_frames_topic:
            from cameragateway.kafka import KafkaFrames

            frames = KafkaFrames(
                kafka_parts["events"].settings,
                channel,
                fleet.publish_answer,
                kafka_parts["events"],
                metrics,
                deadline_s=args.deadline_ms / 1000.0,
                gateway_name=gateway_name,
                metadata=metadata,
            ).start()
            stack.callback(frames.close)
            kafka_parts["frames"] = frames
        web = WebSettings(
            camera_tokens=_tokens(args.camera_tokens_file),
            operator_tokens=_tokens(args.operator_token_file),
            stream_path=args.stream_path,
            mjpeg_fps=args.video_feed_fps,
        )
        if not web.camera_tokens:
            log.warning("no CAMERA_TOKENS_FILE: cameras cannot register themselves (/register answers 403)")
        http = GatewayHttp(args.host, args.port, fleet, hub, metrics, web)
        stack.callback(http.stop)
        if args.cameras_file:
            for spec in read_cameras_file(args.cameras_file, args.stream_path):
                fleet.add(spec, "config")
        fleet.start()
        http.start()
        log.info(
            "serving", extra={"service_name": "cameragateway", "port": http.port, "mesh": args.mesh_addr}
        )
        handle = GatewayHandle(http, fleet, metrics, metrics_port, kafka_parts.get("events"), stack.pop_all())
    return handle


def _start_kafka_events(
    args: argparse.Namespace, metrics: GatewayMetrics, stack: contextlib.ExitStack
) -> Any:
    from cameragateway.kafka import KafkaEvents, KafkaSettings, create_topics

    settings = KafkaSettings(
        bootstrap=args.kafka_bootstrap,
        events_topic=args.kafka_events_topic,
        frames_topic=args.kafka_frames_topic,
        group_id=args.kafka_group,
        create_topics=args.kafka_create_topics,
        partitions=args.kafka_partitions,
        buffer_messages=args.kafka_buffer,
        message_timeout_s=args.kafka_message_timeout_s,
    )
    if settings.create_topics:
        topics = [t for t in (settings.events_topic, settings.frames_topic) if t]
        failed = create_topics(settings, topics, timeout_s=5.0)
        if failed:
            log.warning("kafka: topics %s not created now (broker down?); publishing goes on", failed)
    events = KafkaEvents(settings, metrics)
    events.flush_s = args.shutdown_grace_s
    events.start()
    stack.callback(events.close)
    return events
