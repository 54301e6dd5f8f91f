"""Keep the aggregator's health true: SERVING only while at least one engine backend is.

A readiness probe that always says SERVING sends robots to an aggregator that can only
answer UNAVAILABLE. The watcher polls each backend's grpc.health.v1 on an interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from liquidedge.metrics import ServiceMetrics
from objectdetection.backends import EngineBackend

log = logging.getLogger(__name__)


class BackendHealthWatcher:
    def __init__(
        self,
        backends: Mapping[str, EngineBackend],
        set_serving: Callable[[bool], None],
        metrics: ServiceMetrics,
        interval_s: float = 1.0,
    ) -> None:
        self.backends = dict(backends)
        self.set_serving = set_serving
        self.metrics = metrics
        self.interval_s = interval_s
        self.up: dict[str, bool] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="backend-health", daemon=True)

    def check_once(self) -> bool:
        for name, backend in self.backends.items():
            serving = backend.is_serving(timeout_s=max(0.2, self.interval_s))
            if self.up.get(name) != serving:
                log.info("engine backend health changed", extra={"engine": name, "serving": serving})
            self.up[name] = serving
            self.metrics.backend_up.labels(self.metrics.service, name).set(1 if serving else 0)
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
