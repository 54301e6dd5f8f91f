"""Aggregator service: config → backend channels → fan-out → server (+ live view)."""

from __future__ import annotations

import argparse
import logging
import sys

import grpc

from liquidedge.aio_server import create_aio_server
from liquidedge.config import EnvDefaultsParser, add_common_flags, check_common, parse_bool
from liquidedge.hostinfo import HostInfo
from liquidedge.legacy import robot_pb2_grpc
from liquidedge.logs import configure_logging
from liquidedge.metrics import ServiceMetrics
from liquidedge.mjpeg import MjpegServer
from liquidedge.security import channel_credentials, read_token
from liquidedge.server import ServiceBinding, create_server
from liquidedge.service import DETECTOR_SERVICE, ServiceHandle, image_limits, server_options
from liquidedge.status import RequestGuard
from liquidedge.v1 import detection_pb2_grpc
from objectdetection.aio_fanout import AsyncFanOut, aio_channel_factory
from objectdetection.aio_servicer import (
    AsyncAggregator,
    AsyncAggregatorServicer,
    AsyncLegacyObjectDetectionServicer,
)
from objectdetection.channels import channel_factory
from objectdetection.fanout import FanOut
from objectdetection.health_watch import BackendHealthWatcher
from objectdetection.liveview import LatestFrame
from objectdetection.replicas import ReplicaPolicy, ReplicaPool
from objectdetection.servicer import Aggregator, AggregatorServicer, LegacyObjectDetectionServicer

log = logging.getLogger(__name__)

DEFAULT_PORT = 50051
DEFAULT_METRICS_PORT = 9151
SERVER_MODES = ("thread", "aio")


def parse_user_ids(text: str) -> frozenset[int]:
    return frozenset(int(part) for part in text.split(",") if part.strip())


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(
        prog="objectdetection", description="Aggregator: fans frames out to the detectors"
    )
    add_common_flags(
        parser, port=DEFAULT_PORT, metrics_port=DEFAULT_METRICS_PORT, max_in_flight=64, workers=128
    )
    parser.env_flag(
        "--face-addr",
        "FACEDETECTION_ADDR",
        default="localhost:50053",
        help="face service target ('' disables)",
    )
    parser.env_flag(
        "--yolo-addr",
        "YOLODETECTION_ADDR",
        default="localhost:50055",
        help="YOLO service target ('' disables)",
    )
    parser.env_flag(
        "--engine-timeout-ms", "ENGINE_TIMEOUT_MS", default=2000, type=int, help="longest wait for one engine"
    )
    parser.env_flag(
        "--default-max-results",
        "DEFAULT_MAX_RESULTS",
        default=100,
        type=int,
        help="max_results when a client sends 0",
    )
    parser.env_flag(
        "--allowed-users", "ALLOWED_USER_IDS", default="1", help="legacy user_ids allowed, comma-separated"
    )
    parser.env_flag(
        "--view-port", "VIEW_PORT", default=-1, type=int, help="MJPEG live view port (8088), -1 off"
    )
    parser.env_flag(
        "--health-interval-s",
        "HEALTH_INTERVAL_S",
        default=1.0,
        type=float,
        help="replica health probe interval (a frozen replica is ejected within about this)",
    )
    parser.env_flag(
        "--backend-tls", "BACKEND_TLS", default=False, type=parse_bool, help="call the detectors over TLS"
    )
    parser.env_flag(
        "--backend-ca", "BACKEND_TLS_CA_FILE", default="", help="CA that signed the detectors' certificates"
    )
    parser.env_flag(
        "--backend-cert", "BACKEND_TLS_CERT_FILE", default="", help="client certificate for detector mTLS"
    )
    parser.env_flag("--backend-key", "BACKEND_TLS_KEY_FILE", default="", help="key of --backend-cert")
    parser.env_flag(
        "--backend-server-name",
        "BACKEND_TLS_SERVER_NAME",
        default="",
        help="name to verify the detectors' certificates against (replicas are dialled by IP)",
    )
    parser.env_flag(
        "--backend-token-file",
        "BACKEND_TOKEN_FILE",
        default="",
        help="bearer token the aggregator sends to detectors",
    )
    parser.env_flag(
        "--attempts",
        "ENGINE_ATTEMPTS",
        default=2,
        type=int,
        help="tries per engine call, each on another replica",
    )
    parser.env_flag(
        "--eject-after-failures",
        "EJECT_AFTER_FAILURES",
        default=3,
        type=int,
        help="consecutive failed calls that take a replica out of service",
    )
    parser.env_flag(
        "--ejection-s",
        "EJECTION_S",
        default=2.0,
        type=float,
        help="first ejection time; doubles while it keeps failing",
    )
    parser.env_flag(
        "--server-mode",
        "AGGREGATOR_SERVER_MODE",
        # Measured (python -m liquidedge.bench.aggregator, 2-core CPU, fake detectors): aio
        # serves 1.05-1.1x the thread pool's frames/s at 1 stream, 1.3-1.4x at 16, 1.7-2.2x at 64.
        default="aio",
        choices=list(SERVER_MODES),
        help="thread: a worker thread per call (--workers); aio: grpc.aio coroutines on one event loop",
    )
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    check_common(parser, args)
    if not (args.face_addr or args.yolo_addr):
        parser.error("at least one of --face-addr and --yolo-addr is required")
    if args.attempts < 1 or args.eject_after_failures < 1 or args.ejection_s <= 0:
        parser.error("--attempts and --eject-after-failures must be >= 1 and --ejection-s > 0")
    try:
        backend_security(args)
    except ValueError as error:
        parser.error(str(error))
    if args.engine_timeout_ms < 1:
        parser.error(f"--engine-timeout-ms must be positive, got {args.engine_timeout_ms}")
    if not 1 <= args.default_max_results <= 1000:
        parser.error(f"--default-max-results must be 1..1000, got {args.default_max_results}")
    try:
        parse_user_ids(args.allowed_users)
    except ValueError:
        parser.error(f"--allowed-users must be comma-separated integers, got {args.allowed_users!r}")


def backend_security(
    args: argparse.Namespace,
) -> tuple[grpc.ChannelCredentials | None, tuple[tuple[str, str], ...]]:
    """TLS (or mTLS) credentials and the bearer-token metadata for calls to the detectors."""
    credentials = None
    if args.backend_tls or args.backend_ca or args.backend_cert:
        credentials = channel_credentials(args.backend_ca, args.backend_cert, args.backend_key)
    metadata: tuple[tuple[str, str], ...] = ()
    if args.backend_token_file:
        metadata = (("authorization", f"Bearer {read_token(args.backend_token_file)}"),)
    return credentials, metadata


def aggregator_bindings(detector: object, legacy: object) -> tuple[ServiceBinding, ...]:
    """The v1 and legacy services, whichever server kind (thread or asyncio) hosts them."""
    return (
        ServiceBinding(detector, detection_pb2_grpc.add_DetectorServicer_to_server, DETECTOR_SERVICE),
        ServiceBinding(legacy, robot_pb2_grpc.add_ObjectDetectionServicer_to_server, "ObjectDetection"),
    )


def start(args: argparse.Namespace, *, host: HostInfo | None = None) -> ServiceHandle:
    host = host or HostInfo.detect()
    metrics = ServiceMetrics("objectdetection")
    options = server_options(args)
    targets = {"face": args.face_addr, "yolo": args.yolo_addr}
    policy = ReplicaPolicy(
        consecutive_failures=args.eject_after_failures,
        base_ejection_s=args.ejection_s,
        max_attempts=args.attempts,
    )

    def count_ejection(engine: str, _address: str, reason: str) -> None:
        kind = "health" if "health" in reason else "failures"
        metrics.ejections.labels(metrics.service, engine, kind).inc()

    credentials, metadata = backend_security(args)
    make_channel = channel_factory(options.max_message_bytes, credentials, args.backend_server_name)
    pools = {
        name: ReplicaPool(name, target, make_channel, policy, on_eject=count_ejection, metadata=metadata)
        for name, target in targets.items()
        if target
    }
    fanout = FanOut(
        pools, metrics, engine_timeout_s=args.engine_timeout_ms / 1000.0, workers=args.workers * 2
    )
    latest = LatestFrame() if args.view_port >= 0 else None
    observer = latest.observe if latest else None
    guard = RequestGuard(metrics, args.max_in_flight)
    users = parse_user_ids(args.allowed_users)
    if args.server_mode == "aio":
        make_aio_channel = aio_channel_factory(
            options.max_message_bytes, credentials, args.backend_server_name
        )
        aio = AsyncAggregator(AsyncFanOut(fanout, make_aio_channel), image_limits(args), observer)
        bindings = aggregator_bindings(
            AsyncAggregatorServicer(aio, host, guard, args.default_max_results),
            AsyncLegacyObjectDetectionServicer(aio, host, guard, users),
        )
        running = create_aio_server(bindings, options)
        running.cleanups.append(aio.fanout.close)
    else:
        aggregator = Aggregator(fanout, image_limits(args), observer=observer)
        bindings = aggregator_bindings(
            AggregatorServicer(aggregator, host, guard, args.default_max_results),
            LegacyObjectDetectionServicer(aggregator, host, guard, users),
        )
        running = create_server(bindings, options)
    handle = ServiceHandle("objectdetection", running, metrics, metrics.serve(args.host, args.metrics_port))
    handle.drainers.append(guard.begin_drain)
    watcher = BackendHealthWatcher(pools, running.set_serving, metrics, args.health_interval_s)
    watcher.start()
    handle.closers.append(watcher.stop)
    handle.closers.append(fanout.close)
    if latest is not None:
        view = MjpegServer(args.host, args.view_port, latest.render, title="LIQUID EDGE aggregator").start()
        handle.closers.append(view.stop)
        handle.view_port = view.port
    return handle


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    configure_logging("objectdetection", args.log_level, args.log_format)
    start(args).serve_until_signalled(args.shutdown_grace_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
