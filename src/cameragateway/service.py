"""The camera gateway as a service: flags → mesh channel → cameras → HTTP (+ Kafka, metrics).

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
from cameragateway.fleet import CameraFleet, FleetSettings
from cameragateway.meshlink import CHANNEL_OPTIONS, LinkSettings
from cameragateway.metrics import GatewayMetrics
from cameragateway.puller import PullSettings
from cameragateway.registration import RegistrationError, TokenCheck, read_cameras_file
from cameragateway.web import GatewayHttp, WebSettings
from liquidedge.config import EnvDefaultsParser, parse_bool
from liquidedge.hostinfo import HostInfo
from liquidedge.security import channel_credentials, is_loopback, read_token, read_tokens
from liquidedge.server import wait_for_signal

log = logging.getLogger(__name__)

DEFAULT_PORT = 8080
PROTOCOL = "http"  # what DEFAULT_PORT serves (the other programs serve gRPC)
DEFAULT_METRICS_PORT = 9180
# What the Kubernetes Secret ships with (kube/base/cameragateway-tokens.yaml): refused at start-up,
# so a deployment cannot run on a token that is public in the repository.
PLACEHOLDER_TOKEN = "replace-me"


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def build_parser() -> EnvDefaultsParser:
    p = EnvDefaultsParser(
        prog="cameragateway",
        description="Camera gateway: network cameras register and stream MJPEG; every frame goes "
        "through the mesh; a live dashboard and Kafka events show the answers.",
    )
    f = p.env_flag
    f("--host", "BIND_HOST", default="127.0.0.1", help="address to bind the HTTP port to")
    f(
        "--port",
        "PORT",
        default=DEFAULT_PORT,
        type=int,
        help="HTTP port: registration, dashboard, /video_feed",
    )
    f(
        "--metrics-port",
        "METRICS_PORT",
        default=DEFAULT_METRICS_PORT,
        type=int,
        help="Prometheus /metrics port, -1 disables",
    )
    f("--mesh-addr", "OBJECTDETECTION_ADDR", default="localhost:50051", help="the aggregator's address")
    f("--mesh-token-file", "MESH_TOKEN_FILE", default="", help="bearer token the aggregator requires, if any")
    f("--mesh-tls-ca", "MESH_TLS_CA_FILE", default="", help="TLS to the aggregator, trusting this CA")
    f(
        "--camera-tokens-file",
        "CAMERA_TOKENS_FILE",
        default="",
        help="tokens cameras register with, one per line; unset: /register refuses every camera",
    )
    f(
        "--operator-token-file",
        "OPERATOR_TOKEN_FILE",
        default="",
        help="token that lets the dashboard add and remove cameras; unset: nobody can",
    )
    f(
        "--max-cameras",
        "MAX_CAMERAS",
        default=64,
        type=int,
        help="most cameras pulled at once; more are refused (429)",
    )
    f(
        "--cameras-file",
        "CAMERAS_FILE",
        default="",
        help="cameras to pull from the start: '<id> <address or URL>' per line",
    )
    f(
        "--stream-path",
        "CAMERA_STREAM_PATH",
        default="/stream",
        help="path of a registered camera's MJPEG stream",
    )
    f(
        "--max-fps",
        "CAMERA_MAX_FPS",
        default=5.0,
        type=float,
        help="most frames per second sent to the mesh per camera",
    )
    f(
        "--max-in-flight",
        "CAMERA_MAX_IN_FLIGHT",
        default=4,
        type=int,
        help="most frames in the mesh at once over all cameras; the gateway lowers it while deadlines are missed",
    )
    f("--deadline-ms", "CAMERA_DEADLINE_MS", default=2000, type=int, help="per-frame deadline at the mesh")
    f(
        "--engines",
        "CAMERA_ENGINES",
        default="",
        type=_csv,
        help="engines to ask for, comma-separated; empty = all",
    )
    f("--min-confidence", "CAMERA_MIN_CONFIDENCE", default=0.0, type=float, help="drop detections below this")
    f(
        "--offline-after-s",
        "CAMERA_OFFLINE_AFTER_S",
        default=5.0,
        type=float,
        help="no frame this long: offline",
    )
    f(
        "--remove-after-s",
        "CAMERA_REMOVE_AFTER_S",
        default=600.0,
        type=float,
        help="a registered camera offline this long is removed, 0 = never (cameras-file ones never are)",
    )
    f(
        "--degraded-window-s",
        "CAMERA_DEGRADED_WINDOW_S",
        default=10.0,
        type=float,
        help="a fault this recent shows the camera as degraded",
    )
    f(
        "--stall-timeout-s",
        "CAMERA_STALL_TIMEOUT_S",
        default=5.0,
        type=float,
        help="no bytes or no whole frame this long: reconnect",
    )
    f(
        "--connect-timeout-s",
        "CAMERA_CONNECT_TIMEOUT_S",
        default=3.0,
        type=float,
        help="longest wait to connect to a camera",
    )
    f(
        "--reconnect-max-s",
        "CAMERA_RECONNECT_MAX_S",
        default=10.0,
        type=float,
        help="longest back-off between reconnects",
    )
    f(
        "--max-part-bytes",
        "CAMERA_MAX_PART_BYTES",
        default=4 * 1024 * 1024,
        type=int,
        help="largest MJPEG part accepted; a larger one drops the connection",
    )
    f(
        "--video-feed-fps",
        "VIDEO_FEED_FPS",
        default=5.0,
        type=float,
        help="frame rate of /video_feed and camera MJPEG views",
    )
    f(
        "--kafka-bootstrap",
        "KAFKA_BOOTSTRAP_SERVERS",
        default="",
        help="Kafka bootstrap servers; empty = Kafka off",
    )
    f(
        "--kafka-events-topic",
        "KAFKA_EVENTS_TOPIC",
        default="liquidedge.events",
        help="topic every answer is published to",
    )
    f(
        "--kafka-frames-topic",
        "KAFKA_FRAMES_TOPIC",
        default="liquidedge.frames",
        help="topic of JPEG frames to detect (key = camera id); empty = do not consume",
    )
    f("--kafka-group", "KAFKA_GROUP_ID", default="cameragateway", help="consumer group of the frames topic")
    f(
        "--kafka-create-topics",
        "KAFKA_CREATE_TOPICS",
        default=True,
        type=parse_bool,
        help="create the topics at start when missing",
    )
    f(
        "--kafka-partitions",
        "KAFKA_PARTITIONS",
        default=3,
        type=int,
        help="partitions of topics the gateway creates",
    )
    f(
        "--kafka-buffer",
        "KAFKA_BUFFER_MESSAGES",
        default=10_000,
        type=int,
        help="most events held while the broker is away; more are dropped (and counted)",
    )
    f(
        "--kafka-message-timeout-s",
        "KAFKA_MESSAGE_TIMEOUT_S",
        default=10.0,
        type=float,
        help="an event not delivered within this is dropped (and counted)",
    )
    f(
        "--shutdown-grace-s",
        "SHUTDOWN_GRACE_S",
        default=5.0,
        type=float,
        help="on SIGTERM: not ready, then this long to flush",
    )
    f(
        "--allow-remote-plaintext",
        "ALLOW_PLAINTEXT",
        default=False,
        type=parse_bool,
        help="allow a plaintext mesh channel to a non-loopback aggregator (when a mesh such as Istio encrypts)",
    )
    f("--log-level", "LOG_LEVEL", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    f("--log-format", "LOG_FORMAT", default="json", choices=["json", "text"], help="log line format")
    return p


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fail at start-up with a readable message, not later with a stack trace."""
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, got {args.port}")
    if args.max_cameras < 1:
        parser.error(f"--max-cameras must be at least 1, got {args.max_cameras}")
    if args.max_in_flight < 1:
        parser.error(f"--max-in-flight must be at least 1, got {args.max_in_flight}")
    positive = (
        "max_fps",
        "deadline_ms",
        "offline_after_s",
        "stall_timeout_s",
        "connect_timeout_s",
        "reconnect_max_s",
        "video_feed_fps",
    )
    for name in positive:
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.remove_after_s < 0 or args.degraded_window_s < 0 or args.shutdown_grace_s < 0:
        parser.error("--remove-after-s, --degraded-window-s and --shutdown-grace-s must be >= 0")
    if not 0.0 <= args.min_confidence <= 1.0:
        parser.error(f"--min-confidence must be in [0, 1], got {args.min_confidence}")
    if args.max_part_bytes < 1024:
        parser.error(f"--max-part-bytes must be at least 1024, got {args.max_part_bytes}")
    if not args.stream_path.startswith("/"):
        parser.error(f"--stream-path must start with '/', got {args.stream_path!r}")
    if args.kafka_buffer < 1 or args.kafka_partitions < 1 or args.kafka_message_timeout_s <= 0:
        parser.error("--kafka-buffer, --kafka-partitions and --kafka-message-timeout-s must be positive")
    host = args.mesh_addr.rsplit(":", 1)[0].strip("[]")
    if not args.mesh_tls_ca and not is_loopback(host) and not args.allow_remote_plaintext:
        parser.error(
            f"refusing a plaintext channel to {args.mesh_addr}: set --mesh-tls-ca, or ALLOW_PLAINTEXT=true "
            "when a service mesh encrypts the traffic"
        )
    try:
        for path in (args.camera_tokens_file, args.operator_token_file, args.mesh_token_file):
            if path and any(t.startswith(PLACEHOLDER_TOKEN) for t in read_tokens(path)):
                parser.error(
                    f"{path} still holds the placeholder token: put your own tokens in it (one per line)"
                )
        if (
            args.cameras_file
            and len(read_cameras_file(args.cameras_file, args.stream_path)) > args.max_cameras
        ):
            parser.error(f"{args.cameras_file} lists more cameras than --max-cameras {args.max_cameras}")
    except (ValueError, RegistrationError) as error:
        parser.error(str(error))


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
    metrics_server: Any
    kafka: Any
    _stack: contextlib.ExitStack = field(repr=False)

    @property
    def port(self) -> int:
        return self.http.port

    @property
    def metrics_port(self) -> int | None:
        return None if self.metrics_server is None else self.metrics_server.server_port

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
    if args.mesh_tls_ca:
        return grpc.secure_channel(
            args.mesh_addr, channel_credentials(args.mesh_tls_ca), options=CHANNEL_OPTIONS
        )
    return grpc.insecure_channel(args.mesh_addr, options=CHANNEL_OPTIONS)


def _tokens(path: str) -> TokenCheck:
    return TokenCheck(read_tokens(path) if path else ())


def start(args: argparse.Namespace) -> GatewayHandle:
    gateway_name = HostInfo.detect().hostname
    stack = contextlib.ExitStack()
    with stack:
        metrics = GatewayMetrics()
        metrics_server = metrics.serve(args.host, args.metrics_port)
        if metrics_server is not None:
            stack.callback(metrics_server.server_close)
            stack.callback(metrics_server.shutdown)
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
        handle = GatewayHandle(
            http, fleet, metrics, metrics_server, kafka_parts.get("events"), stack.pop_all()
        )
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
