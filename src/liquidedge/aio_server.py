"""The asyncio (`grpc.aio`) twin of `liquidedge.server`: same health, reflection, tokens and drain.

The server runs on an event loop in a thread of its own, so the rest of the process stays
synchronous: `__main__` still waits for SIGTERM on the main thread, the backend health watcher
still probes from its thread, and tests start and stop it like the thread-pool server.
`AioRunningServer` offers the methods `ServiceHandle` calls on a `RunningServer`
(`port`, `set_serving`, `stop`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH_SERVICE_NAME
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from liquidedge.aio_security import aio_interceptors
from liquidedge.server import ServerOptions, ServiceBinding, server_channel_options
from liquidedge.wire import AioRejectUnparsableInterceptor

log = logging.getLogger(__name__)

T = TypeVar("T")

# Longest wait for the loop to run a small piece of work (a health change) for another thread.
_CALL_TIMEOUT_S = 5.0


class EventLoopThread:
    """An asyncio loop running on its own daemon thread, and a way to run coroutines on it."""

    def __init__(self, name: str = "grpc-aio") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> EventLoopThread:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self.loop.is_running()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def call(self, work: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run `work` on the loop from another thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout_s)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)


@dataclass
class AioRunningServer:
    """A started `grpc.aio` server and its loop; stopping it drains, then ends the loop."""

    loop: EventLoopThread
    server: grpc.aio.Server
    port: int
    health: health_aio.HealthServicer
    service_names: tuple[str, ...]
    # Run on the loop after the server has drained (e.g. closing the aio channels to backends).
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def _set_all(self, status: int) -> None:
        for name in ("", *self.service_names):
            await self.health.set(name, status)

    def set_serving(self, serving: bool) -> None:
        """Thread-safe: the aio HealthServicer's `set` is a coroutine, so it runs on the loop."""
        if not self.loop.running:
            return  # stopping: health already says NOT_SERVING and the loop is gone
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        try:
            self.loop.call(self._set_all(status), _CALL_TIMEOUT_S)
        except (TimeoutError, RuntimeError) as error:
            log.warning("could not update health", extra={"serving": serving, "error": str(error)})

    async def _drain(self, grace_s: float | None) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        for cleanup in self.cleanups:
            await cleanup()

    def stop(self, grace_s: float | None = None) -> None:
        """Say NOT_SERVING first so load balancers stop sending, then drain in-flight calls."""
        if self.loop.running:
            self.loop.call(self._drain(grace_s), None if grace_s is None else grace_s + 30.0)
        self.loop.stop()


async def _build(
    bindings: Sequence[ServiceBinding], options: ServerOptions
) -> tuple[grpc.aio.Server, health_aio.HealthServicer, int]:
    server = grpc.aio.server(
        # Innermost: a body that does not parse is the client's mistake, not UNKNOWN.
        interceptors=[*aio_interceptors(options.interceptors), AioRejectUnparsableInterceptor()],
        options=server_channel_options(options.max_message_bytes),
    )
    for binding in bindings:
        binding.add_to_server(binding.servicer, server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = tuple(b.full_name for b in bindings)
    reflection.enable_server_reflection((*names, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{options.host}:{options.port}"
    if options.credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, options.credentials)
    if port == 0:
        raise OSError(f"could not bind gRPC port {address}")
    for name in ("", *names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.start()
    return server, health_servicer, port


def create_aio_server(
    bindings: Sequence[ServiceBinding], options: ServerOptions, loop: EventLoopThread | None = None
) -> AioRunningServer:
    """Start an asyncio server (NOT_SERVING until the caller says otherwise) on its own loop thread.

    `options.workers` does not apply: the loop serves every call on one thread.
    """
    loop = loop or EventLoopThread().start()
    try:
        server, health_servicer, port = loop.call(_build(bindings, options), 60.0)
    except BaseException:
        loop.stop()
        raise
    names = tuple(b.full_name for b in bindings)
    log.info(
        "gRPC (asyncio) listening",
        extra={"address": f"{options.host}:{port}", "services": list(names)},
    )
    return AioRunningServer(loop, server, port, health_servicer, names)
