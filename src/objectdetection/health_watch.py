"""Keep the aggregator's health true: SERVING only while at least one engine has a replica that is.

A readiness probe that always says SERVING sends robots to an aggregator that can only answer
UNAVAILABLE. The watcher probes every replica's grpc.health.v1 on an interval, which is also what
ejects a frozen replica within about a second. It is a task on the server's event loop and
probes over the same channels the detection calls use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from liquidedge.metrics import ServiceMetrics
from objectdetection.replicas import ReplicaPool

log = logging.getLogger(__name__)


class BackendHealthWatcher:
    def __init__(
        self,
        pools: Mapping[str, ReplicaPool],
        set_serving: Callable[[bool], Awaitable[None]],
        metrics: ServiceMetrics,
        interval_s: float = 1.0,
    ) -> None:
        self.pools = dict(pools)
        self.set_serving = set_serving
        self.metrics = metrics
        self.interval_s = interval_s
        self.up: dict[str, bool] = {}
        self._task: asyncio.Task[None] | None = None

    async def check_once(self) -> bool:
        timeout_s = min(0.5, max(0.1, self.interval_s))
        answers = await asyncio.gather(*(pool.probe(timeout_s) for pool in self.pools.values()))
        for (name, pool), serving in zip(self.pools.items(), answers, strict=True):
            if self.up.get(name) != serving:
                log.info("engine backend health changed", extra={"engine": name, "serving": serving})
            self.up[name] = serving
            self.metrics.backend_up.labels(self.metrics.service, name).set(1 if serving else 0)
            self.metrics.replicas_in_service.labels(self.metrics.service, name).set(len(pool.in_service()))
        any_up = any(self.up.values())
        await self.set_serving(any_up)
        return any_up

    async def start(self) -> None:
        """Check once (so health is true from the first probe), then keep checking in a task."""
        await self.check_once()
        self._task = asyncio.create_task(self._loop(), name="backend-health")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check_once()
            except Exception:  # a watcher that dies silently would freeze health at its last value
                log.exception("backend health check failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
