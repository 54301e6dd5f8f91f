"""Send one frame to every requested engine at once and collect what each one said.

The engine calls are coroutines on the aggregator's event loop, one per engine, each on its
engine's `ReplicaPool` (balancing, retries, ejection). Each runs under a deadline derived from
the client's, minus a margin for the merge, so the aggregator answers in time even when an
engine hangs. A failed engine does not fail the frame: its outcome records the failure and
the other engines' boxes still count. A client that goes away cancels the handler's task, and
with it every engine call still in flight.

Engines that find their own boxes start at once. A refining engine (recognition) starts as
soon as the engine it refines (face) has answered, with that engine's boxes as its regions,
under what is left of the same deadline; the others (YOLO) never wait for it. Its per-box
attributes are merged back onto the boxes by index. When it fails, is late or is down, the
boxes go out anyway with its `unrefined` attributes (identity "unknown"), and its engine
status says why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import grpc
import numpy as np
from prometheus_client import Counter

from liquidedge.detections import Detections
from liquidedge.messages import DetectOptions
from liquidedge.metrics import ServiceMetrics
from liquidedge.v1 import detection_pb2
from objectdetection.mapping import EngineOutcome, engine_request, refine_request
from objectdetection.replicas import AttemptError, ReplicaPool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refinement:
    """What a refining engine refines: the `upstream` engine's boxes labelled one of `labels`."""

    upstream: str
    labels: tuple[str, ...] = ()
    unrefined: Mapping[str, str] = field(default_factory=dict)

    def region_indices(self, found: Detections) -> np.ndarray:
        """Indices of the upstream's boxes this engine refines."""
        if not self.labels:
            return np.arange(len(found))
        return np.flatnonzero(np.isin(found.label, list(self.labels)))


def with_upstreams(engines: tuple[str, ...], refinements: Mapping[str, Refinement]) -> tuple[str, ...]:
    """A refining engine brings the engine it refines: ("recognition",) -> ("face", "recognition")."""
    planned: list[str] = []
    for name in engines:
        upstream = refinements[name].upstream if name in refinements else None
        if upstream is not None and upstream not in planned:
            planned.append(upstream)
        if name not in planned:
            planned.append(name)
    return tuple(planned)


def refined(found: Detections, indices: np.ndarray, reply: Detections) -> Detections:
    """`found` with the refiner's attributes for box `indices[i]` taken from its answer's box i."""
    columns: dict[str, np.ndarray] = {}
    for key, values in reply.data.items():
        if values.dtype.kind in "iuf":
            column = np.full(len(found), np.nan)
        else:
            column = np.full(len(found), None, dtype=object)
        column[indices] = values
        columns[key] = column
    return found.with_data(**columns)


def unrefined(found: Detections, indices: np.ndarray, attributes: Mapping[str, str]) -> Detections:
    """`found` with `attributes` on box `indices` (a refiner that could not answer)."""
    columns = {}
    for key, value in attributes.items():
        column = np.full(len(found), None, dtype=object)
        column[indices] = value
        columns[key] = column
    return found.with_data(**columns)


class FanOut:
    """Runs each requested engine on its replica pool: finders at once, refiners after theirs."""

    def __init__(
        self,
        pools: Mapping[str, ReplicaPool],
        metrics: ServiceMetrics,
        *,
        engine_timeout_s: float = 2.0,
        merge_margin_s: float = 0.005,
        refinements: Mapping[str, Refinement] | None = None,
        affine: Collection[str] = (),
    ) -> None:
        self.pools = dict(pools)
        self.metrics = metrics
        self.engine_timeout_s = engine_timeout_s
        self.merge_margin_s = merge_margin_s
        self.refinements = {k: v for k, v in (refinements or {}).items() if k in self.pools}
        self.affine = frozenset(affine)
        self.refined_boxes = Counter(
            "liquidedge_refined_boxes",
            "Boxes sent to a refining engine, by outcome (refined, or the code of its failure)",
            ["service", "engine", "outcome"],
            registry=metrics.registry,
        )

    @property
    def engines(self) -> tuple[str, ...]:
        return tuple(self.pools)

    def plan(self, engines: tuple[str, ...]) -> tuple[str, ...]:
        """The engines a frame runs: those asked for, each refiner with the engine it refines."""
        return with_upstreams(engines, self.refinements)

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
        """One outcome per planned engine, in plan order; refined boxes carry their attributes."""
        deadline = self.engine_deadline(budget_s)
        engines = self.plan(options.engines)
        finders = {
            name: asyncio.ensure_future(
                self._call_engine(name, engine_request(name, frame, options), deadline)
            )
            for name in engines
            if name not in self.refinements
        }
        refiners = [name for name in engines if name in self.refinements]
        steps = [
            self._refine(name, finders[self.refinements[name].upstream], frame, deadline) for name in refiners
        ]
        try:
            results = await asyncio.gather(*finders.values(), *steps)
        finally:
            for task in finders.values():
                task.cancel()  # a no-op once done; ends the calls of a cancelled frame
        outcomes = dict(zip([*finders, *refiners], results, strict=True))
        return [outcomes[name] for name in engines]

    async def _refine(
        self,
        name: str,
        upstream_call: asyncio.Future[EngineOutcome],
        frame: detection_pb2.Frame,
        deadline: float,
    ) -> EngineOutcome:
        """Wait for the upstream's boxes, have `name` refine them, merge its answer onto them."""
        refinement = self.refinements[name]
        upstream = await asyncio.shield(upstream_call)
        if not upstream.ok:
            return EngineOutcome(
                name,
                grpc.StatusCode.FAILED_PRECONDITION,
                f"not run: {refinement.upstream} answered {upstream.code.name}",
            )
        indices = refinement.region_indices(upstream.detections)
        if not len(indices):
            return EngineOutcome(name, grpc.StatusCode.OK)  # nothing to refine in this frame
        regions = upstream.detections[indices]
        outcome = await self._call_engine(name, refine_request(name, frame, regions), deadline)
        if outcome.ok and len(outcome.detections) != len(indices):
            outcome = EngineOutcome(
                name,
                grpc.StatusCode.INTERNAL,
                f"{name} answered {len(outcome.detections)} boxes for {len(indices)} regions",
                latency_ms=outcome.latency_ms,
                served_by=outcome.served_by,
            )
        if outcome.ok:
            upstream.detections = refined(upstream.detections, indices, outcome.detections)
        else:
            upstream.detections = unrefined(upstream.detections, indices, refinement.unrefined)
        label = "refined" if outcome.ok else outcome.code.name
        self.refined_boxes.labels(self.metrics.service, name, label).inc(len(indices))
        return outcome

    async def _call_engine(
        self, name: str, request: detection_pb2.DetectRequest, deadline: float
    ) -> EngineOutcome:
        started = time.perf_counter()
        affinity = request.frame.source_id if name in self.affine else ""
        try:
            reply, _address = await self.pools[name].detect(request, deadline, affinity=affinity)
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
            # A client that hangs up (a robot reconnecting, a camera removed, Ctrl-C) cancels its
            # frame's engine calls: counted by code as every outcome is, but no engine failed.
            cancelled = outcome.code == grpc.StatusCode.CANCELLED
            log.log(
                logging.INFO if cancelled else logging.WARNING,
                "engine call cancelled by the client" if cancelled else "engine call failed",
                extra={"engine": outcome.engine, "code": outcome.code.name, "error": outcome.error},
            )
        return outcome
