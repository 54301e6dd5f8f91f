"""The aggregator as an importable service: its flags, their checks, and `start(args)`.

`__main__` and the tests start the same thing. The engines the aggregator fans out to are one
table (`ENGINE_BACKENDS`): an engine is a name clients ask for, and the flag that says where its
detector replicas are served. Every detector speaks v1 `liquidedge.v1.Detector`, so a new
engine is a new row, not new fan-out code. A row may say that its engine *refines* another:
it labels some of that engine's boxes (recognition names the face boxes; the crop classifier
labels chosen YOLO boxes), so the fan-out starts it as soon as that engine has answered.
"""

from __future__ import annotations

import argparse
import logging
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass

import grpc

from liquidedge.aio_server import EventLoopThread, start_aio_server
from liquidedge.config import EnvDefaultsParser, add_common_flags, check_common, parse_bool
from liquidedge.hostinfo import HostInfo
from liquidedge.legacy import robot_pb2_grpc
from liquidedge.messages import UNKNOWN_IDENTITY
from liquidedge.metrics import ServiceMetrics
from liquidedge.mjpeg import MjpegServer
from liquidedge.security import channel_credentials, read_token
from liquidedge.server import ServiceBinding
from liquidedge.service import DETECTOR_SERVICE, ServiceHandle, image_limits, server_options
from liquidedge.status import RequestGuard
from liquidedge.v1 import detection_pb2_grpc
from objectdetection.channels import channel_factory
from objectdetection.fanout import FanOut, Refinement
from objectdetection.health_watch import BackendHealthWatcher
from objectdetection.liveview import LatestFrame
from objectdetection.replicas import ReplicaPolicy, ReplicaPool
from objectdetection.servicer import Aggregator, AggregatorServicer, LegacyObjectDetectionServicer

log = logging.getLogger(__name__)

DEFAULT_PORT = 50051
DEFAULT_METRICS_PORT = 9151


@dataclass(frozen=True)
class EngineBackend:
    """An engine the aggregator fans frames out to, and where its detectors are served.

    A refining engine (`refines` set) is sent the boxes of that engine whose label is one of
    `labels` (all of them when empty) as the request's regions, and answers one box per
    region; its attributes are merged back onto those boxes. When it cannot answer (down,
    late, failed), the boxes still go out, carrying `unrefined` (e.g. identity "unknown").
    `affinity`: a source's frames go to the same replica (the engine keeps per-source state).
    `labels_flag`/`labels_env`: an operator chooses `labels` (comma-separated; the row's are the
    default).
    """

    name: str  # what clients ask for in a request's `engines`
    flag: str
    env: str
    default_target: str
    refines: str | None = None
    labels: tuple[str, ...] = ()
    unrefined: tuple[tuple[str, str], ...] = ()
    affinity: bool = False
    labels_flag: str = ""
    labels_env: str = ""

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def chosen_labels(self, args: argparse.Namespace) -> tuple[str, ...]:
        """The labels whose boxes it refines: the operator's choice, else the row's."""
        if not self.labels_flag:
            return self.labels
        text = getattr(args, self.labels_flag.removeprefix("--").replace("-", "_"))
        return tuple(label.strip() for label in text.split(",") if label.strip())


ENGINE_BACKENDS = (
    EngineBackend("face", "--face-addr", "FACEDETECTION_ADDR", "localhost:50053"),
    EngineBackend("yolo", "--yolo-addr", "YOLODETECTION_ADDR", "localhost:50055"),
    # Names the face boxes; per-source identity tracks, hence affinity. Off until configured.
    EngineBackend(
        "recognition",
        "--recognition-addr",
        "FACERECOGNITION_ADDR",
        "",
        refines="face",
        labels=("face",),
        unrefined=(("identity", UNKNOWN_IDENTITY),),
        affinity=True,
    ),
    # Off unless configured: whole-frame labels from a classifier a site trained itself.
    EngineBackend("classifier", "--classifier-addr", "CLASSIFIER_ADDR", ""),
    # Off unless configured: the class of chosen YOLO boxes' crops (what kind of bottle).
    EngineBackend(
        "classifier-crops",
        "--classifier-crops-addr",
        "CLASSIFIER_CROPS_ADDR",
        "",
        refines="yolo",
        labels=("bottle", "cup"),
        labels_flag="--classifier-crop-labels",
        labels_env="CLASSIFIER_CROP_LABELS",
    ),
)


def engine_targets(args: argparse.Namespace) -> dict[str, str]:
    """The configured engines, by name, with their detectors' gRPC target ('' = not configured)."""
    return {engine.name: target for engine in ENGINE_BACKENDS if (target := getattr(args, engine.dest))}


def refinements(args: argparse.Namespace) -> dict[str, Refinement]:
    """The configured refining engines, by name, and what each refines."""
    targets = engine_targets(args)
    return {
        engine.name: Refinement(engine.refines, engine.chosen_labels(args), dict(engine.unrefined))
        for engine in ENGINE_BACKENDS
        if engine.refines is not None and engine.name in targets
    }


# The engines whose frames go to the same replica per source (`EngineBackend.affinity`).
AFFINE_ENGINES = frozenset(engine.name for engine in ENGINE_BACKENDS if engine.affinity)


def parse_user_ids(text: str) -> frozenset[int]:
    return frozenset(int(part) for part in text.split(",") if part.strip())


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(
        prog="objectdetection", description="Aggregator: fans frames out to the detectors"
    )
    add_common_flags(
        parser, port=DEFAULT_PORT, metrics_port=DEFAULT_METRICS_PORT, max_in_flight=64, workers=None
    )
    for engine in ENGINE_BACKENDS:
        parser.env_flag(
            engine.flag,
            engine.env,
            default=engine.default_target,
            help=f"{engine.name} detector target: host:port, dns:///name:port or ipv4:a:p,b:p ('' disables)",
        )
        if engine.labels_flag:
            parser.env_flag(
                engine.labels_flag,
                engine.labels_env,
                default=",".join(engine.labels),
                help=f"{engine.name}: the {engine.refines} labels whose boxes it refines, comma-separated "
                "(empty: every box)",
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
        "--legacy-names",
        "LEGACY_NAMES",
        default=False,
        type=parse_bool,
        help="legacy answers name a recognised face after the person instead of 'face' "
        "(and legacy frames are sent to recognition)",
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
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    check_common(parser, args)
    targets = engine_targets(args)
    if not any(e.name in targets for e in ENGINE_BACKENDS if e.refines is None):
        finders = [e.flag for e in ENGINE_BACKENDS if e.refines is None]
        parser.error(f"at least one of {', '.join(finders)} is required")
    for engine in ENGINE_BACKENDS:
        if engine.refines is not None and engine.name in targets and engine.refines not in targets:
            upstream = next(e for e in ENGINE_BACKENDS if e.name == engine.refines)
            parser.error(
                f"{engine.flag} needs {upstream.flag}: {engine.name} refines the {engine.refines} boxes"
            )
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


async def _open_pools(
    args: argparse.Namespace, max_message_bytes: int, metrics: ServiceMetrics, opened: AsyncExitStack
) -> dict[str, ReplicaPool]:
    """A replica pool per configured engine, made on the event loop its channels belong to."""
    credentials, metadata = backend_security(args)
    make_channel = channel_factory(max_message_bytes, credentials, args.backend_server_name)
    policy = ReplicaPolicy(
        consecutive_failures=args.eject_after_failures,
        base_ejection_s=args.ejection_s,
        max_attempts=args.attempts,
    )

    def count_ejection(engine: str, _address: str, reason: str) -> None:
        kind = "health" if "health" in reason else "failures"
        metrics.ejections.labels(metrics.service, engine, kind).inc()

    pools = {}
    for name, target in engine_targets(args).items():
        pools[name] = ReplicaPool(
            name, target, make_channel, policy, on_eject=count_ejection, metadata=metadata
        )
        opened.push_async_callback(pools[name].close)
        metrics.replica_states[name] = pools[name].describe
    return pools


def aggregator_bindings(aggregator: Aggregator, args: argparse.Namespace) -> tuple[ServiceBinding, ...]:
    """The v1 and legacy services, both answered by `aggregator`."""
    return (
        ServiceBinding(
            AggregatorServicer(aggregator, args.default_max_results),
            detection_pb2_grpc.add_DetectorServicer_to_server,
            DETECTOR_SERVICE,
        ),
        ServiceBinding(
            LegacyObjectDetectionServicer(aggregator, parse_user_ids(args.allowed_users), args.legacy_names),
            robot_pb2_grpc.add_ObjectDetectionServicer_to_server,
            "ObjectDetection",
        ),
    )


def start(args: argparse.Namespace, *, host: HostInfo | None = None) -> ServiceHandle:
    """Serve the aggregator: event loop, channels, gRPC server, health watcher, metrics, live view.

    Opened in that order on one stack; a failing step (a port in use) closes the ones before it.
    What runs on the event loop is closed there, by its own stack.
    """
    host = host or HostInfo.detect()
    options = server_options(args)
    metrics = ServiceMetrics("objectdetection")
    guard = RequestGuard(metrics, args.max_in_flight)
    latest = LatestFrame() if args.view_port >= 0 else None
    with ExitStack() as stack:
        loop = stack.enter_context(EventLoopThread("objectdetection"))
        on_loop = AsyncExitStack()
        stack.callback(loop.run, on_loop.aclose)
        pools = loop.run(_open_pools, args, options.max_message_bytes, metrics, on_loop)
        fanout = FanOut(
            pools,
            metrics,
            engine_timeout_s=args.engine_timeout_ms / 1000.0,
            refinements=refinements(args),
            affine=AFFINE_ENGINES,
        )
        observer = latest.observe if latest else None
        aggregator = Aggregator(fanout, image_limits(args), host, guard, observer)
        server = loop.run(start_aio_server, loop, aggregator_bindings(aggregator, args), options)
        on_loop.push_async_callback(server.close, 0)
        # The first check resolves DNS targets and makes health true before anyone asks.
        watcher = BackendHealthWatcher(pools, server.set_health, metrics, args.health_interval_s)
        loop.run(watcher.start)
        on_loop.push_async_callback(watcher.stop)
        metrics_port = stack.enter_context(metrics.serving(args.host, args.metrics_port))
        view_port = None
        if latest is not None:
            view = MjpegServer(args.host, args.view_port, latest.render, title="LIQUID EDGE aggregator")
            view_port = stack.enter_context(view).port
        handle = ServiceHandle("objectdetection", server, metrics, stack.pop_all(), metrics_port, view_port)
    handle.drainers.append(guard.begin_drain)
    log.info("serving", extra={"service_name": "objectdetection", "port": server.port})
    return handle
