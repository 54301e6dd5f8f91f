"""Start and stop a whole service: gRPC server, health, metrics endpoint.

`__main__` modules and tests use the same functions, so what the tests start is what runs
in production, only bound to port 0 on loopback.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from liquidedge.detector_servicer import DetectorServicer, EngineRunner
from liquidedge.engine import Engine
from liquidedge.hostinfo import HostInfo
from liquidedge.imaging import ImageLimits
from liquidedge.metrics import ServiceMetrics
from liquidedge.security import (
    HEALTH_PREFIX,
    LEGACY_PREFIXES,
    BearerTokenInterceptor,
    read_tokens,
    server_credentials,
)
from liquidedge.server import RunningServer, ServerOptions, ServiceBinding, create_server, wait_for_signal
from liquidedge.status import RequestGuard
from liquidedge.v1 import detection_pb2, detection_pb2_grpc

log = logging.getLogger(__name__)

DETECTOR_SERVICE = detection_pb2.DESCRIPTOR.services_by_name["Detector"].full_name


@dataclass
class ServiceHandle:
    """A started service. `stop` drains it; extra closers run after the gRPC server stops."""

    name: str
    server: RunningServer
    metrics: ServiceMetrics
    metrics_server: Any = None
    view_port: int | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    # Run first on stop, before the gRPC server stops taking calls (e.g. end open streams).
    drainers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def metrics_port(self) -> int | None:
        return None if self.metrics_server is None else self.metrics_server.server_port

    def stop(self, grace_s: float | None = 1.0) -> None:
        for drain in self.drainers:
            drain()
        self.server.stop(grace_s)
        for close in self.closers:
            close()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        log.info("stopped", extra={"service_name": self.name})

    def serve_until_signalled(self, grace_s: float) -> None:
        reason = wait_for_signal()
        log.info("shutting down", extra={"reason": reason, "grace_s": grace_s})
        self.stop(grace_s)


def server_options(args: argparse.Namespace, **overrides: Any) -> ServerOptions:
    """Listening options from the common flags: limits, TLS or mTLS, bearer tokens."""
    credentials = None
    if args.tls_cert:
        credentials = server_credentials(args.tls_cert, args.tls_key, args.tls_client_ca)
    interceptors = []
    if args.auth_tokens_file:
        exempt = (HEALTH_PREFIX, *LEGACY_PREFIXES) if args.legacy_auth == "user-id" else (HEALTH_PREFIX,)
        interceptors.append(BearerTokenInterceptor(read_tokens(args.auth_tokens_file), exempt))
    values = {
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "max_message_bytes": args.max_frame_bytes + 64 * 1024,
        "credentials": credentials,
        "interceptors": tuple(interceptors),
        **overrides,
    }
    return ServerOptions(**values)


def image_limits(args: argparse.Namespace) -> ImageLimits:
    return ImageLimits(max_bytes=args.max_frame_bytes, max_pixels=args.max_pixels)


def start_detector(
    name: str,
    engine_name: str,
    legacy: Callable[[DetectorServicer], ServiceBinding],
    args: argparse.Namespace,
    load_engine: Callable[[], Engine],
    *,
    options: ServerOptions | None = None,
    host: HostInfo | None = None,
) -> ServiceHandle:
    """Serve a single-engine detector: NOT_SERVING while `load_engine` runs, SERVING after."""
    metrics = ServiceMetrics(name)
    runner = EngineRunner(engine_name, image_limits(args), metrics)
    guard = RequestGuard(metrics, args.max_in_flight)
    detector = DetectorServicer(runner, host or HostInfo.detect(), guard)
    bindings: Sequence[ServiceBinding] = (
        ServiceBinding(detector, detection_pb2_grpc.add_DetectorServicer_to_server, DETECTOR_SERVICE),
        legacy(detector),
    )
    running = create_server(bindings, options or server_options(args))
    handle = ServiceHandle(name, running, metrics, metrics.serve(args.host, args.metrics_port))
    handle.drainers.append(guard.begin_drain)
    try:
        runner.attach(load_engine())
    except BaseException:
        handle.stop(0)
        raise
    running.set_serving(True)
    log.info("serving", extra={"service_name": name, "port": running.port})
    return handle
