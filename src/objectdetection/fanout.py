"""Send one frame to every requested engine at once and collect what each one said.

Each engine call runs under a deadline derived from the client's, minus a margin for the
merge, so the aggregator answers in time even when an engine hangs. A failed engine does not
fail the frame: its outcome records the failure and the other engines' boxes still count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc

from liquidedge.detections import Detections
from liquidedge.messages import DetectOptions, detections_from_proto
from liquidedge.metrics import ServiceMetrics
from liquidedge.status import AbortError
from liquidedge.v1 import detection_pb2
from objectdetection.backends import EngineBackend

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
    def __init__(
        self,
        backends: Mapping[str, EngineBackend],
        metrics: ServiceMetrics,
        *,
        engine_timeout_s: float = 2.0,
        merge_margin_s: float = 0.005,
    ) -> None:
        self.backends = dict(backends)
        self.metrics = metrics
        self.engine_timeout_s = engine_timeout_s
        self.merge_margin_s = merge_margin_s

    @property
    def engines(self) -> tuple[str, ...]:
        return tuple(self.backends)

    def engine_timeout(self, budget_s: float | None) -> float:
        if budget_s is None:
            return self.engine_timeout_s
        return max(0.0, min(self.engine_timeout_s, budget_s - self.merge_margin_s))

    def run(
        self,
        frame: detection_pb2.Frame,
        options: DetectOptions,
        budget_s: float | None,
        context: grpc.ServicerContext | None = None,
    ) -> list[EngineOutcome]:
        timeout_s = self.engine_timeout(budget_s)
        started = time.perf_counter()
        calls: dict[str, grpc.Future] = {}
        for name in options.engines:
            request = detection_pb2.DetectRequest(
                frame=frame,
                engines=[name],
                max_results=options.max_results,
                min_confidence=options.min_confidence,
                classes=list(options.classes),
            )
            calls[name] = self.backends[name].detect_future(request, timeout_s)
        if context is not None:
            # A robot that hangs up should not keep detectors busy on its frame.
            context.add_callback(lambda: [call.cancel() for call in calls.values()])
        outcomes = [self._collect(name, call, started) for name, call in calls.items()]
        return outcomes

    def _collect(self, name: str, call: grpc.Future, started: float) -> EngineOutcome:
        try:
            reply: detection_pb2.DetectResponse = call.result()
        except grpc.RpcError as error:
            outcome = EngineOutcome(name, error.code(), error.details() or error.code().name)
        except grpc.FutureCancelledError:
            outcome = EngineOutcome(name, grpc.StatusCode.CANCELLED, "the client cancelled the frame")
        else:
            outcome = EngineOutcome(
                name,
                grpc.StatusCode.OK,
                detections=detections_from_proto(reply.detections),
                served_by=reply.served_by,
                reported=len(reply.detections),
            )
        outcome.latency_ms = (time.perf_counter() - started) * 1000.0
        self.metrics.observe_engine(name, outcome.code.name, outcome.latency_ms / 1000.0)
        if not outcome.ok:
            log.warning(
                "engine call failed",
                extra={"engine": name, "code": outcome.code.name, "error": outcome.error},
            )
        return outcome


def merge(outcomes: list[EngineOutcome], options: DetectOptions) -> Detections:
    """Boxes of every engine that answered; raise only when none did."""
    answered = [o for o in outcomes if o.ok]
    if not answered and outcomes:
        for outcome in outcomes:
            if outcome.code in _CLIENT_CODES:
                raise AbortError(outcome.code, outcome.error)
        summary = "; ".join(f"{o.engine}: {o.code.name} ({o.error})" for o in outcomes)
        raise AbortError(grpc.StatusCode.UNAVAILABLE, f"every requested engine failed: {summary}")
    merged = Detections.merge(o.detections for o in answered)
    return merged.filtered(
        min_confidence=options.min_confidence, classes=options.classes, max_results=options.max_results
    )
