"""Keep the aggregator's health true: SERVING only while at least one engine has a replica that is.

A readiness probe that always says SERVING sends robots to an aggregator that can only answer
UNAVAILABLE. The watcher probes every replica's grpc.health.v1 on an interval, which is also what
ejects a frozen replica within about a second.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from liquidedge.metrics import ServiceMetrics
from objectdetection.replicas import ReplicaPool

log = logging.getLogger(__name__)


class BackendHealthWatcher:
    def __init__(
        self,
        pools: Mapping[str, ReplicaPool],
        set_serving: Callable[[bool], None],
        metrics: ServiceMetrics,
        interval_s: float = 1.0,
    ) -> None:
        self.pools = dict(pools)
        self.set_serving = set_serving
        self.metrics = metrics
        self.interval_s = interval_s
        self.up: dict[str, bool] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="backend-health", daemon=True)

    def check_once(self) -> bool:
        for name, pool in self.pools.items():
            serving = pool.probe(timeout_s=min(0.5, max(0.1, self.interval_s)))
            if self.up.get(name) != serving:
                log.info("engine backend health changed", extra={"engine": name, "serving": serving})
            self.up[name] = serving
            self.metrics.backend_up.labels(self.metrics.service, name).set(1 if serving else 0)
            self.metrics.replicas_in_service.labels(self.metrics.service, name).set(len(pool.in_service()))
        any_up = any(self.up.values())
        self.set_serving(any_up)
        return any_up

    def start(self) -> None:
        self.check_once()
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check_once()
            except Exception:  # a watcher that dies silently would freeze health at its last value
                log.exception("backend health check failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
