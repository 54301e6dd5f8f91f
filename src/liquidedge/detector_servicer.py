"""The v1 `Detector` service for a process that hosts one engine (face, YOLO or recognition).

The detector services answer v1 requests the same way: check the request, decode the JPEG
within limits, run the engine, filter, answer. Only the engine differs, so it is passed in.
A refining engine (recognition) gets the request's regions and source and answers one box
per region, in order, unfiltered: its caller merges its answer back by index.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from liquidedge.detections import Detections
from liquidedge.engine import Engine, FrameContext, RefiningEngine
from liquidedge.errors import BadRequestError
from liquidedge.hostinfo import HostInfo
from liquidedge.imaging import ImageLimits, decode_jpeg
from liquidedge.legacy import robot_pb2
from liquidedge.messages import (
    DetectOptions,
    check_max_results,
    detections_from_proto,
    detections_to_proto,
    parse_options,
    served_by,
)
from liquidedge.metrics import ServiceMetrics
from liquidedge.status import DRAINING_DETAILS, AbortError, RequestGuard
from liquidedge.v1 import detection_pb2, detection_pb2_grpc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameResult:
    detections: Detections
    width: int
    height: int
    decode_ms: float
    inference_ms: float


def frame_deadline(
    context: grpc.ServicerContext | grpc.aio.ServicerContext, deadline_ms: int
) -> float | None:
    """Absolute monotonic deadline: the tighter of the call deadline and the per-frame budget."""
    candidates = []
    remaining = context.time_remaining()
    if remaining is not None:
        candidates.append(remaining)
    if deadline_ms > 0:
        candidates.append(deadline_ms / 1000.0)
    return time.monotonic() + min(candidates) if candidates else None


class EngineRunner:
    """Decode, run, filter: the part of a detector request that does not depend on the protocol.

    The engine is attached after the server is up, so the port answers health checks with
    NOT_SERVING (and requests with UNAVAILABLE) while the model loads, instead of refusing
    connections.
    """

    def __init__(self, name: str, limits: ImageLimits, metrics: ServiceMetrics) -> None:
        self.name = name
        self.engine: Engine | RefiningEngine | None = None
        self.limits = limits
        self.metrics = metrics

    def attach(self, engine: Engine | RefiningEngine) -> None:
        if engine.name != self.name:
            raise ValueError(f"runner for {self.name!r} cannot host engine {engine.name!r}")
        self.engine = engine

    def run(
        self,
        jpeg: bytes,
        options: DetectOptions,
        deadline: float | None,
        context: FrameContext | None = None,
    ) -> FrameResult:
        engine = self.engine
        if engine is None:
            raise AbortError(grpc.StatusCode.UNAVAILABLE, f"the {self.name} model is still loading")
        context = context or FrameContext()
        refining = isinstance(engine, RefiningEngine)
        if len(context.regions) and not refining:
            raise BadRequestError(f"the {self.name} engine finds its own boxes: send no regions")
        frame = decode_jpeg(jpeg, self.limits)
        if deadline is not None and time.monotonic() >= deadline:
            raise AbortError(
                grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before the engine could start"
            )
        start = time.perf_counter()
        if isinstance(engine, RefiningEngine):
            # One box per region, in order: never filtered, the caller merges by index.
            found = engine.refine(frame.image_bgr, context, deadline)
        else:
            found = engine.detect(frame.image_bgr, deadline=deadline).filtered(
                min_confidence=options.min_confidence,
                classes=options.classes,
                max_results=options.max_results,
            )
        inference_s = time.perf_counter() - start
        self.metrics.observe_engine(self.name, "OK", inference_s)
        return FrameResult(found, frame.width, frame.height, frame.decode_ms, inference_s * 1000.0)


def require_frame(request: detection_pb2.DetectRequest) -> None:
    if not request.HasField("frame"):
        raise BadRequestError("request has no frame")


@dataclass(eq=False)
class DetectorServicer(detection_pb2_grpc.DetectorServicer):
    """v1 for a single-engine detector process: each frame runs `detect_frame` under the guard."""

    runner: EngineRunner
    host: HostInfo
    guard: RequestGuard
    default_max_results: int = 100

    def Detect(
        self, request: detection_pb2.DetectRequest, context: grpc.ServicerContext
    ) -> detection_pb2.DetectResponse:
        with self.guard(context, "Detect"):
            return self.detect_frame(request, context)

    def DetectStream(
        self, request_iterator: Iterator[detection_pb2.DetectRequest], context: grpc.ServicerContext
    ) -> Iterator[detection_pb2.DetectResponse]:
        for request in request_iterator:
            if self.guard.draining.is_set():
                # A stream would keep a draining server alive for the whole grace period;
                # ending it lets the robot reconnect to another replica at once.
                context.abort(grpc.StatusCode.UNAVAILABLE, DRAINING_DETAILS)
            with self.guard(context, "DetectStream"):
                response = self.detect_frame(request, context)
            yield response

    def detect_frame(
        self, request: detection_pb2.DetectRequest, context: grpc.ServicerContext
    ) -> detection_pb2.DetectResponse:
        start = time.perf_counter()
        require_frame(request)
        engine_name = self.runner.name
        options = parse_options(request, (engine_name,), self.default_max_results)
        frame_context = FrameContext(request.frame.source_id, detections_from_proto(request.regions))
        result = self.runner.run(
            request.frame.jpeg, options, frame_deadline(context, options.deadline_ms), frame_context
        )
        total_ms = (time.perf_counter() - start) * 1000.0
        return detection_pb2.DetectResponse(
            frame_number=request.frame.number,
            capture_time_us=request.frame.capture_time_us,
            source_id=request.frame.source_id,
            detections=detections_to_proto(result.detections),
            engines=[
                detection_pb2.EngineStatus(
                    engine=engine_name,
                    ok=True,
                    code="OK",
                    latency_ms=result.inference_ms,
                    served_by=served_by(self.host),
                    detections=len(result.detections),
                    model_version=result.detections.meta.get("model_version", ""),
                )
            ],
            served_by=served_by(self.host),
            timings=detection_pb2.Timings(
                total_ms=total_ms, decode_ms=result.decode_ms, inference_ms=result.inference_ms
            ),
            image_width=result.width,
            image_height=result.height,
        )

    def run_legacy(
        self, frame: robot_pb2.VideoFrame, max_results: int, context: grpc.ServicerContext
    ) -> Detections:
        """A legacy single-engine request: legacy max_results 0 means no limit."""
        options = DetectOptions((self.runner.name,), check_max_results(max_results, 0), 0.0, ())
        return self.runner.run(frame.img, options, frame_deadline(context, 0)).detections
