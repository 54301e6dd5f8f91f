"""Start and stop a whole service: gRPC server, health, metrics endpoint, and what else it opens.

`__main__` modules and tests use the same functions, so what the tests start is what runs
in production, only bound to port 0 on loopback. Every service opens its parts on one
`contextlib.ExitStack`: when a step fails (a port in use, a model that does not load), the
parts opened before it are closed again and the error goes up; when the service stops, they
are closed in reverse order, after the gRPC server has drained.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

from liquidedge.detector_servicer import DetectorServicer, EngineRunner
from liquidedge.engine import Engine, RefiningEngine
from liquidedge.hostinfo import HostInfo
from liquidedge.imaging import ImageLimits
from liquidedge.logs import configure_logging
from liquidedge.metrics import ServiceMetrics
from liquidedge.security import HEALTH_PREFIX, LEGACY_PREFIXES, BearerTokens, read_tokens, server_credentials
from liquidedge.server import ServerOptions, ServiceBinding, ServingPort, create_server, wait_for_signal
from liquidedge.status import RequestGuard
from liquidedge.v1 import detection_pb2, detection_pb2_grpc

log = logging.getLogger(__name__)

DETECTOR_SERVICE = detection_pb2.DESCRIPTOR.services_by_name["Detector"].full_name


@dataclass
class ServiceHandle:
    """A started service.

    `stop` runs the drainers (end open streams), drains the gRPC server for the grace period
    while everything it uses is still open, then closes `resources` (everything start-up
    opened, the server included, in reverse order).
    """

    name: str
    server: ServingPort
    metrics: ServiceMetrics
    resources: ExitStack
    metrics_port: int | None = None
    view_port: int | None = None
    # Run first on stop, before the gRPC server stops taking calls (e.g. end open streams).
    drainers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.port

    def stop(self, grace_s: float | None = 1.0) -> None:
        for drain in self.drainers:
            drain()
        self.server.stop(grace_s)
        self.resources.close()
        log.info("stopped", extra={"service_name": self.name})

    def serve_until_signalled(self, grace_s: float) -> None:
        reason = wait_for_signal()
        log.info("shutting down", extra={"reason": reason, "grace_s": grace_s})
        self.stop(grace_s)


class Servable(Protocol):
    """What `service_main` serves: a started service that drains on SIGTERM (gRPC or HTTP)."""

    def serve_until_signalled(self, grace_s: float) -> None: ...


def run_until_signalled(name: str, start: Callable[[], Servable], grace_s: float) -> int:
    """What a service's `main` does once its flags are checked: start, serve, drain on SIGTERM.

    A start-up that fails (a port in use, a model that does not load) has already closed what
    it opened; it is reported as one log line and exit status 1, not a traceback.
    """
    try:
        handle = start()
    except Exception as error:
        log.error("could not start: %s", error, extra={"service_name": name})
        return 1
    handle.serve_until_signalled(grace_s)
    return 0


def service_main(
    name: str,
    build_parser: Callable[[], argparse.ArgumentParser],
    check_args: Callable[[argparse.ArgumentParser, argparse.Namespace], None],
    start: Callable[[argparse.Namespace], Servable],
    argv: Sequence[str] | None = None,
) -> int:
    """Every service's `main`: flags, start-up checks (exit 2 with the reason), logging, serve."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    configure_logging(name, args.log_level, args.log_format)
    return run_until_signalled(name, lambda: start(args), args.shutdown_grace_s)


def server_options(
    args: argparse.Namespace, *, token_exempt: Sequence[str] = (), **overrides: Any
) -> ServerOptions:
    """Listening options from the common flags: limits, TLS or mTLS, bearer tokens.

    `token_exempt`: method prefixes the robots' tokens do not guard (methods with tokens of
    their own, in `guards`).
    """
    credentials = None
    if args.tls_cert:
        credentials = server_credentials(args.tls_cert, args.tls_key, args.tls_client_ca)
    tokens = None
    if args.auth_tokens_file:
        exempt = (HEALTH_PREFIX, *LEGACY_PREFIXES) if args.legacy_auth == "user-id" else (HEALTH_PREFIX,)
        tokens = BearerTokens(read_tokens(args.auth_tokens_file), (*exempt, *token_exempt))
    values = {
        "host": args.host,
        "port": args.port,
        # An asyncio service has no --workers.
        "workers": vars(args).get("workers", ServerOptions.workers),
        "max_message_bytes": args.max_frame_bytes + 64 * 1024,
        "credentials": credentials,
        "tokens": tokens,
        **overrides,
    }
    return ServerOptions(**values)


def image_limits(args: argparse.Namespace) -> ImageLimits:
    return ImageLimits(max_bytes=args.max_frame_bytes, max_pixels=args.max_pixels)


def start_detector(
    name: str,
    engine_name: str,
    legacy: Callable[[DetectorServicer], ServiceBinding] | None,
    args: argparse.Namespace,
    load_engine: Callable[[], Engine | RefiningEngine],
    *,
    options: ServerOptions | None = None,
    host: HostInfo | None = None,
    metrics: ServiceMetrics | None = None,
    extra_bindings: Sequence[ServiceBinding] = (),
) -> ServiceHandle:
    """Serve a single-engine detector: NOT_SERVING while `load_engine` runs, SERVING after.

    `legacy`: the engine's legacy service, if it has one; `extra_bindings`: other services
    the process serves beside it (the recognition service's `Gallery`); `metrics`: the service's
    metrics, when what `load_engine` builds reports into them (a model slot's versions). An engine with a
    `close` method (a batcher's worker threads) is closed with the service.
    """
    metrics = metrics or ServiceMetrics(name)
    runner = EngineRunner(engine_name, image_limits(args), metrics)
    guard = RequestGuard(metrics, args.max_in_flight)
    detector = DetectorServicer(runner, host or HostInfo.detect(), guard)
    bindings: Sequence[ServiceBinding] = (
        ServiceBinding(detector, detection_pb2_grpc.add_DetectorServicer_to_server, DETECTOR_SERVICE),
        *(() if legacy is None else (legacy(detector),)),
        *extra_bindings,
    )
    with ExitStack() as stack:
        running = create_server(bindings, options or server_options(args))
        stack.callback(running.stop, 0)
        metrics_port = stack.enter_context(metrics.serving(args.host, args.metrics_port))
        engine = load_engine()
        close_engine = getattr(engine, "close", None)
        if close_engine is not None:
            stack.callback(close_engine)
        runner.attach(engine)
        handle = ServiceHandle(name, running, metrics, stack.pop_all(), metrics_port)
    handle.drainers.append(guard.begin_drain)
    running.set_serving(True)
    log.info("serving", extra={"service_name": name, "port": running.port})
    return handle
