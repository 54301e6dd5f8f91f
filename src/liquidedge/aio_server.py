"""The asyncio (`grpc.aio`) server: same health, reflection, tokens and drain as `liquidedge.server`.

The server runs on an event loop in a thread of its own, so the rest of the process stays
synchronous: `__main__` waits for SIGTERM on the main thread, and tests start and stop an
asyncio service like a thread-pool one. Everything that talks to the server's calls (channels
to backends, health probes) is built and run on that loop; other threads reach it through
`EventLoopThread.run`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from liquidedge.interceptors import AioHandlerInterceptor
from liquidedge.server import ServerOptions, ServiceBinding, add_services, server_channel_options

log = logging.getLogger(__name__)

T = TypeVar("T")

# Longest wait for the loop to run a small piece of work (a health change) for another thread.
_CALL_TIMEOUT_S = 5.0
# Longest wait, beyond the grace period, for a drain to finish.
_DRAIN_SLACK_S = 30.0


class EventLoopThread:
    """An asyncio loop running on its own daemon thread; a context manager that starts and stops it."""

    def __init__(self, name: str = "grpc-aio") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> EventLoopThread:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

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

    def run(
        self, work: Callable[..., Coroutine[Any, Any, T]], *args: Any, timeout_s: float | None = None
    ) -> T:
        """Run `work(*args)` on the loop from another thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work(*args), self.loop).result(timeout_s)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)


@dataclass
class AioRunningServer:
    """A started `grpc.aio` server on `loop`. Its sync methods may be called from any thread."""

    loop: EventLoopThread
    server: grpc.aio.Server
    port: int
    health: health_aio.HealthServicer
    service_names: tuple[str, ...]
    stopped: bool = False

    async def set_health(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.service_names):
            await self.health.set(name, status)

    def set_serving(self, serving: bool) -> None:
        if self.loop.running:
            self.loop.run(self.set_health, serving, timeout_s=_CALL_TIMEOUT_S)

    async def close(self, grace_s: float | None = None) -> None:
        """Say NOT_SERVING first so load balancers stop sending, then drain in-flight calls.

        Only the first call drains: a service's lifecycle closes the server again after a
        graceful stop, and on a failed start-up.
        """
        if self.stopped:
            return
        self.stopped = True
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)

    def stop(self, grace_s: float | None = None) -> None:
        if self.loop.running:
            limit = None if grace_s is None else grace_s + _DRAIN_SLACK_S
            self.loop.run(self.close, grace_s, timeout_s=limit)


async def start_aio_server(
    loop: EventLoopThread, bindings: Sequence[ServiceBinding], options: ServerOptions
) -> AioRunningServer:
    """Start an asyncio server, NOT_SERVING until the caller says otherwise. Run it on `loop`.

    `options.workers` does not apply: the loop serves every call on one thread.
    """
    server = grpc.aio.server(
        interceptors=[AioHandlerInterceptor(rewrite) for rewrite in options.rewrites(aio=True)],
        options=server_channel_options(options.max_message_bytes),
    )
    health_servicer = health_aio.HealthServicer()
    names, port = add_services(server, bindings, health_servicer, options)
    running = AioRunningServer(loop, server, port, health_servicer, names)
    await running.set_health(False)
    await server.start()
    log.info("gRPC (asyncio) listening", extra={"address": f"{options.host}:{port}", "services": list(names)})
    return running
