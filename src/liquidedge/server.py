"""Server bootstrap shared by every service: gRPC server, health, reflection, drain on SIGTERM.

`create_server` starts a thread-pool server (the detectors: CPU work that releases the GIL);
`liquidedge.aio_server` starts an asyncio one (the aggregator) with the same services, health,
reflection and interceptors (`ServerOptions.rewrites`). Tests bind port 0 and get the real port
back. Health starts NOT_SERVING and is switched on by the caller once its model is loaded, so a
readiness probe never routes traffic to a pod that cannot answer.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from liquidedge.interceptors import HandlerInterceptor, HandlerRewrite
from liquidedge.security import BearerTokens
from liquidedge.wire import reject_unparsable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceBinding:
    """A servicer, the generated function that registers it, and its full service name."""

    servicer: Any
    add_to_server: Callable[[Any, grpc.Server], None]
    full_name: str


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 0
    workers: int = 16
    max_message_bytes: int = 8 * 1024 * 1024 + 64 * 1024
    # Calls must carry one of these bearer tokens (None: no token needed).
    tokens: BearerTokens | None = None
    credentials: grpc.ServerCredentials | None = None
    # Further token rules, each for its own methods (e.g. operators' tokens for `Gallery`).
    guards: tuple[BearerTokens, ...] = ()

    def rewrites(self, *, aio: bool) -> list[HandlerRewrite]:
        """What every call goes through before a servicer sees it, outermost first.

        Innermost: a body that does not parse is the client's mistake, not INTERNAL or UNKNOWN.
        """
        rules = [rule for rule in (self.tokens, *self.guards) if rule is not None]
        return [*(rule.rewrite(aio=aio) for rule in rules), functools.partial(reject_unparsable, aio=aio)]


class ServingPort(Protocol):
    """What a service needs of a started server, whichever kind (thread-pool or asyncio)."""

    port: int

    def set_serving(self, serving: bool) -> None: ...

    def stop(self, grace_s: float | None = None) -> None: ...


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    service_names: tuple[str, ...]

    def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.service_names):
            self.health.set(name, status)

    def stop(self, grace_s: float | None = None) -> None:
        """Say NOT_SERVING first so load balancers stop sending, then drain in-flight calls."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait()


def server_channel_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    """gRPC core options of a listening server (the thread-pool and the asyncio one alike)."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.so_reuseport", 0),
        # Let idle robot streams live, but notice dead peers within a minute.
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


def add_services(
    server: grpc.Server | grpc.aio.Server,
    bindings: Sequence[ServiceBinding],
    health_servicer: Any,
    options: ServerOptions,
) -> tuple[tuple[str, ...], int]:
    """Register the services, health and reflection, and bind the port (either server kind).

    Returns the services' full names and the bound port.
    """
    for binding in bindings:
        binding.add_to_server(binding.servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = tuple(b.full_name for b in bindings)
    reflection.enable_server_reflection((*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{options.host}:{options.port}"
    try:
        if options.credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, options.credentials)
    except RuntimeError:  # grpcio's word for any bind failure; the port in use is the usual one
        port = 0
    if port == 0:
        raise OSError(f"could not bind the gRPC port {address} (in use, or not an address of this host)")
    return names, port


def create_server(bindings: Sequence[ServiceBinding], options: ServerOptions) -> RunningServer:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="grpc"),
        interceptors=[HandlerInterceptor(rewrite) for rewrite in options.rewrites(aio=False)],
        options=server_channel_options(options.max_message_bytes),
    )
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    names, port = add_services(server, bindings, health_servicer, options)
    running = RunningServer(server=server, port=port, health=health_servicer, service_names=names)
    running.set_serving(False)
    server.start()
    log.info("gRPC listening", extra={"address": f"{options.host}:{port}", "services": list(names)})
    return running


def wait_for_signal(stop: threading.Event | None = None) -> str:
    """Block until SIGTERM or SIGINT (or `stop` is set); returns what ended the wait."""
    stop = stop or threading.Event()
    received: list[str] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return received[0] if received else "stop requested"
