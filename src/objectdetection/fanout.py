"""Send one frame to every requested engine at once and collect what each one said.

Each engine call runs under a deadline derived from the client's, minus a margin for the
merge, so the aggregator answers in time even when an engine hangs. A failed engine does not
fail the frame: its outcome records the failure and the other engines' boxes still count.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc

from liquidedge.detections import Detections
from liquidedge.messages import DetectOptions, detections_from_proto
from liquidedge.metrics import ServiceMetrics
from liquidedge.status import AbortError
from liquidedge.v1 import detection_pb2
from objectdetection.replicas import AttemptError, ReplicaPool

log = logging.getLogger(__name__)

# Codes that mean the frame itself is bad: every engine would refuse it, so say so to the client.
_CLIENT_CODES = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)


@dataclass
class EngineOutcome:
    engine: str
    code: grpc.StatusCode
    error: str = ""
    latency_ms: float = 0.0
    detections: Detections = field(default_factory=Detections.empty)
    served_by: detection_pb2.ServedBy | None = None
    reported: int = 0

    @property
    def ok(self) -> bool:
        return self.code == grpc.StatusCode.OK

    def to_proto(self) -> detection_pb2.EngineStatus:
        return detection_pb2.EngineStatus(
            engine=self.engine,
            ok=self.ok,
            code=self.code.name,
            error=self.error,
            latency_ms=self.latency_ms,
            served_by=self.served_by,
            detections=self.reported,
        )


class FanOut:
    """Runs each requested engine on its replica pool, all engines at once."""

    def __init__(
        self,
        pools: Mapping[str, ReplicaPool],
        metrics: ServiceMetrics,
        *,
        engine_timeout_s: float = 2.0,
        merge_margin_s: float = 0.005,
        workers: int = 64,
    ) -> None:
        self.pools = dict(pools)
        self.metrics = metrics
        self.engine_timeout_s = engine_timeout_s
        self.merge_margin_s = merge_margin_s
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="engine-call")

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

    def run(
        self,
        frame: detection_pb2.Frame,
        options: DetectOptions,
        budget_s: float | None,
        context: grpc.ServicerContext | None = None,
    ) -> list[EngineOutcome]:
        deadline = self.engine_deadline(budget_s)
        cancelled = threading.Event()
        if context is not None:
            # A robot that hangs up should not keep detectors busy on its frame.
            context.add_callback(cancelled.set)
        calls = {
            name: self._executor.submit(self._call_engine, name, frame, options, deadline, cancelled)
            for name in options.engines
        }
        return [call.result() for call in calls.values()]

    def _call_engine(
        self,
        name: str,
        frame: detection_pb2.Frame,
        options: DetectOptions,
        deadline: float,
        cancelled: threading.Event,
    ) -> EngineOutcome:
        request = engine_request(name, frame, options)
        started = time.perf_counter()
        try:
            reply, _address = self.pools[name].detect(request, deadline, cancelled)
        except AttemptError as error:
            outcome = EngineOutcome(name, error.code, error.details)
        else:
            outcome = answered_outcome(name, reply)
        return self.account(outcome, started)

    def account(self, outcome: EngineOutcome, started: float) -> EngineOutcome:
        """Stamp the call's latency, count it, and log a failure: the same in both server modes."""
        outcome.latency_ms = (time.perf_counter() - started) * 1000.0
        self.metrics.observe_engine(outcome.engine, outcome.code.name, outcome.latency_ms / 1000.0)
        if not outcome.ok:
            log.warning(
                "engine call failed",
                extra={"engine": outcome.engine, "code": outcome.code.name, "error": outcome.error},
            )
        return outcome

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        for pool in self.pools.values():
            pool.close()


def engine_request(
    name: str, frame: detection_pb2.Frame, options: DetectOptions
) -> detection_pb2.DetectRequest:
    """What one engine is asked: the client's frame and filters, for that engine alone."""
    return detection_pb2.DetectRequest(
        frame=frame,
        engines=[name],
        max_results=options.max_results,
        min_confidence=options.min_confidence,
        classes=list(options.classes),
    )


def answered_outcome(name: str, reply: detection_pb2.DetectResponse) -> EngineOutcome:
    return EngineOutcome(
        name,
        grpc.StatusCode.OK,
        detections=detections_from_proto(reply.detections),
        served_by=reply.served_by,
        reported=len(reply.detections),
    )


def merge(outcomes: list[EngineOutcome], options: DetectOptions) -> Detections:
    """Boxes of every engine that answered; raise only when none did.

    None answered: a bad frame keeps its own code, a spent deadline is DEADLINE_EXCEEDED, and
    anything else (engines down) is UNAVAILABLE.
    """
    answered = [o for o in outcomes if o.ok]
    if not answered and outcomes:
        for outcome in outcomes:
            if outcome.code in _CLIENT_CODES:
                raise AbortError(outcome.code, outcome.error)
        summary = "; ".join(f"{o.engine}: {o.code.name} ({o.error})" for o in outcomes)
        if all(o.code == grpc.StatusCode.DEADLINE_EXCEEDED for o in outcomes):
            # The frame's budget ran out everywhere: say so, rather than "backend down, retry".
            raise AbortError(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"no engine answered within the deadline: {summary}"
            )
        raise AbortError(grpc.StatusCode.UNAVAILABLE, f"every requested engine failed: {summary}")
    merged = Detections.merge(o.detections for o in answered)
    return merged.filtered(
        min_confidence=options.min_confidence, classes=options.classes, max_results=options.max_results
    )
