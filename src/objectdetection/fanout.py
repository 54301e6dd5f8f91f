"""Send one frame to every requested engine at once and collect what each one said.

The engine calls are coroutines on the aggregator's event loop, one per engine, each on its
engine's `ReplicaPool` (balancing, retries, ejection). Each runs under a deadline derived from
the client's, minus a margin for the merge, so the aggregator answers in time even when an
engine hangs. A failed engine does not fail the frame: its outcome records the failure and
the other engines' boxes still count. A client that goes away cancels the handler's task, and
with it every engine call still in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

import grpc

from liquidedge.messages import DetectOptions
from liquidedge.metrics import ServiceMetrics
from liquidedge.v1 import detection_pb2
from objectdetection.mapping import EngineOutcome, engine_request
from objectdetection.replicas import AttemptError, ReplicaPool

log = logging.getLogger(__name__)


class FanOut:
    """Runs each requested engine on its replica pool, all engines at once."""

    def __init__(
        self,
        pools: Mapping[str, ReplicaPool],
        metrics: ServiceMetrics,
        *,
        engine_timeout_s: float = 2.0,
        merge_margin_s: float = 0.005,
    ) -> None:
        self.pools = dict(pools)
        self.metrics = metrics
        self.engine_timeout_s = engine_timeout_s
        self.merge_margin_s = merge_margin_s

    @property
    def engines(self) -> tuple[str, ...]:
        return tuple(self.pools)

    def engine_deadline(self, budget_s: float | None) -> float:
        """Absolute deadline for the engine calls: the client's, less a margin to merge and answer."""
        span = (
            self.engine_timeout_s
            if budget_s is None
            else min(self.engine_timeout_s, budget_s - self.merge_margin_s)
        )
        return time.monotonic() + max(0.0, span)

    async def run(
        self, frame: detection_pb2.Frame, options: DetectOptions, budget_s: float | None
    ) -> list[EngineOutcome]:
        deadline = self.engine_deadline(budget_s)
        calls = (self._call_engine(name, frame, options, deadline) for name in options.engines)
        return list(await asyncio.gather(*calls))

    async def _call_engine(
        self, name: str, frame: detection_pb2.Frame, options: DetectOptions, deadline: float
    ) -> EngineOutcome:
        request = engine_request(name, frame, options)
        started = time.perf_counter()
        try:
            reply, _address = await self.pools[name].detect(request, deadline)
        except AttemptError as error:
            outcome = EngineOutcome(name, error.code, error.details)
        except asyncio.CancelledError:
            self._account(
                EngineOutcome(name, grpc.StatusCode.CANCELLED, "the client cancelled the frame"), started
            )
            raise
        else:
            outcome = EngineOutcome.answered(name, reply)
        return self._account(outcome, started)

    def _account(self, outcome: EngineOutcome, started: float) -> EngineOutcome:
        """Stamp the call's latency, count it, and log a failure."""
        outcome.latency_ms = (time.perf_counter() - started) * 1000.0
        self.metrics.observe_engine(outcome.engine, outcome.code.name, outcome.latency_ms / 1000.0)
        if not outcome.ok:
            log.warning(
                "engine call failed",
                extra={"engine": outcome.engine, "code": outcome.code.name, "error": outcome.error},
            )
        return outcome
