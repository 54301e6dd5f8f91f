"""The aggregator's gRPC services: v1 `Detector` (Detect, DetectStream) and legacy `ObjectDetect`.

Coroutines on one `grpc.aio` event loop. Each frame runs under the request guard (admission,
status codes, metrics); the mapping is `objectdetection.mapping`'s, the waiting is the fan-out's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc

from liquidedge.detections import Detections
from liquidedge.detector_servicer import require_frame
from liquidedge.errors import BadRequestError
from liquidedge.hostinfo import HostInfo
from liquidedge.imaging import ImageLimits
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.messages import DetectOptions, parse_options
from liquidedge.status import DRAINING_DETAILS, RequestGuard
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from objectdetection.fanout import FanOut
from objectdetection.mapping import (
    EngineOutcome,
    frame_budget,
    legacy_frame,
    legacy_options,
    legacy_response,
    merge,
    v1_response,
)

# Called after every answered frame with (jpeg, detections); the live view keeps the latest.
FrameObserver = Callable[[bytes, Detections], None]


@dataclass
class Aggregator:
    """Validate, fan out, merge: the protocol-independent part of an aggregator request."""

    fanout: FanOut
    limits: ImageLimits
    host: HostInfo
    guard: RequestGuard
    observer: FrameObserver | None = None

    async def detect(
        self, frame: detection_pb2.Frame, options: DetectOptions, context: grpc.aio.ServicerContext
    ) -> tuple[Detections, list[EngineOutcome], tuple[int, int]]:
        size, budget_s = frame_budget(frame, self.limits, context, options.deadline_ms)
        outcomes = await self.fanout.run(frame, options, budget_s)
        found = merge(outcomes, options, self.fanout.refinements)
        if self.observer is not None:
            self.observer(frame.jpeg, found)
        return found, outcomes, size


@dataclass(eq=False)
class AggregatorServicer(detection_pb2_grpc.DetectorServicer):
    aggregator: Aggregator
    default_max_results: int = 100

    async def _detect_frame(
        self, request: detection_pb2.DetectRequest, context: grpc.aio.ServicerContext
    ) -> detection_pb2.DetectResponse:
        start = time.perf_counter()
        require_frame(request)
        if request.regions:
            raise BadRequestError("regions are for refining engines; the aggregator finds the boxes itself")
        options = parse_options(request, self.aggregator.fanout.engines, self.default_max_results)
        found, outcomes, size = await self.aggregator.detect(request.frame, options, context)
        return v1_response(request, found, outcomes, size, self.aggregator.host, start)

    async def Detect(
        self, request: detection_pb2.DetectRequest, context: grpc.aio.ServicerContext
    ) -> detection_pb2.DetectResponse:
        async with self.aggregator.guard.aio(context, "Detect"):
            return await self._detect_frame(request, context)

    async def DetectStream(
        self,
        request_iterator: AsyncIterator[detection_pb2.DetectRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[detection_pb2.DetectResponse]:
        # One frame at a time per stream, answered in order.
        guard = self.aggregator.guard
        async for request in request_iterator:
            if guard.draining.is_set():
                # A stream would hold a draining server for its whole grace period; ending it
                # lets the robot reconnect elsewhere at once.
                await context.abort(grpc.StatusCode.UNAVAILABLE, DRAINING_DETAILS)
            async with guard.aio(context, "DetectStream"):
                reply = await self._detect_frame(request, context)
            yield reply


@dataclass(eq=False)
class LegacyObjectDetectionServicer(robot_pb2_grpc.ObjectDetectionServicer):
    """The deployed robots' protocol, answered by the same aggregator."""

    aggregator: Aggregator
    allowed_users: frozenset[int]
    # Name recognised faces after the person instead of "face" (the operator's choice).
    names: bool = False

    async def ObjectDetect(
        self, request: robot_pb2.ObjectDetectionRequest, context: grpc.aio.ServicerContext
    ) -> robot_pb2.ObjectDetectionResponse:
        aggregator = self.aggregator
        async with aggregator.guard.aio(context, "ObjectDetect"):
            options = legacy_options(request, self.allowed_users, aggregator.fanout.engines, self.names)
            found, _outcomes, _size = await aggregator.detect(legacy_frame(request), options, context)
            return legacy_response(request, found, aggregator.host, self.names)
