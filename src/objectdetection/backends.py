"""Channels to the engine services, created once and shared by every request.

A backend address may name many replicas (`dns:///yolodetection.ns.svc:50055` over a
headless Service): the channel balances calls over them with round_robin. Reconnect backoff
is capped low so that a restarted detector is used again within a second or two.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from liquidedge.service import DETECTOR_SERVICE
from liquidedge.v1 import detection_pb2, detection_pb2_grpc

log = logging.getLogger(__name__)

_SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def channel_options(max_message_bytes: int) -> list[tuple[str, object]]:
    return [
        ("grpc.service_config", _SERVICE_CONFIG),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        # Re-resolve DNS often enough to notice replicas added by the autoscaler.
        ("grpc.dns_min_time_between_resolutions_ms", 5_000),
    ]


@dataclass
class EngineBackend:
    """One engine (face or yolo) reached over one channel."""

    engine: str
    target: str
    channel: grpc.Channel
    stub: detection_pb2_grpc.DetectorStub
    health_stub: health_pb2_grpc.HealthStub

    @classmethod
    def connect(
        cls,
        engine: str,
        target: str,
        max_message_bytes: int,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> EngineBackend:
        options = channel_options(max_message_bytes)
        if credentials is None:
            channel = grpc.insecure_channel(target, options=options)
        else:
            channel = grpc.secure_channel(target, credentials, options=options)
        log.info("engine backend", extra={"engine": engine, "target": target})
        return cls(
            engine,
            target,
            channel,
            detection_pb2_grpc.DetectorStub(channel),
            health_pb2_grpc.HealthStub(channel),
        )

    def detect_future(self, request: detection_pb2.DetectRequest, timeout_s: float) -> grpc.Future:
        return self.stub.Detect.future(request, timeout=timeout_s)

    def is_serving(self, timeout_s: float) -> bool:
        try:
            reply = self.health_stub.Check(
                health_pb2.HealthCheckRequest(service=DETECTOR_SERVICE), timeout=timeout_s
            )
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def close(self) -> None:
        self.channel.close()
