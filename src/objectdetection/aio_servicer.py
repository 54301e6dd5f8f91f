"""The aggregator's v1 and legacy services on a `grpc.aio` server (`--server-mode aio`).

Same requests, answers, status codes and metrics as `servicer.py`: validation, response
building and the merge are the shared pure functions there; only waiting differs (coroutines
on one event loop instead of a blocked thread per call and per engine call).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from functools import partial

import grpc

from liquidedge.aio_status import guarded
from liquidedge.detections import Detections
from liquidedge.detector_servicer import require_frame
from liquidedge.hostinfo import HostInfo
from liquidedge.imaging import ImageLimits
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.messages import DetectOptions, parse_options
from liquidedge.status import DRAINING_DETAILS, RequestGuard
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from objectdetection.aio_fanout import AsyncFanOut
from objectdetection.fanout import EngineOutcome, merge
from objectdetection.servicer import (
    FrameObserver,
    frame_budget,
    legacy_frame,
    legacy_options,
    legacy_response,
    v1_response,
)


class AsyncAggregator:
    """Validate, fan out, merge, as a coroutine: the twin of `servicer.Aggregator`."""

    def __init__(
        self, fanout: AsyncFanOut, limits: ImageLimits, observer: FrameObserver | None = None
    ) -> None:
        self.fanout = fanout
        self.limits = limits
        self.observer = observer

    async def detect(
        self, frame: detection_pb2.Frame, options: DetectOptions, context: grpc.aio.ServicerContext
    ) -> tuple[Detections, list[EngineOutcome], tuple[int, int]]:
        size, budget_s = frame_budget(frame, self.limits, context, options.deadline_ms)  # type: ignore[arg-type]
        outcomes = await self.fanout.run(frame, options, budget_s)
        found = merge(outcomes, options)
        if self.observer is not None:
            self.observer(frame.jpeg, found)
        return found, outcomes, size


class AsyncAggregatorServicer(detection_pb2_grpc.DetectorServicer):
    def __init__(
        self,
        aggregator: AsyncAggregator,
        host: HostInfo,
        guard: RequestGuard,
        default_max_results: int = 100,
    ) -> None:
        self.aggregator = aggregator
        self.host = host
        self.guard = guard
        self.default_max_results = default_max_results

    async def _detect_frame(
        self, request: detection_pb2.DetectRequest, context: grpc.aio.ServicerContext
    ) -> detection_pb2.DetectResponse:
        start = time.perf_counter()
        require_frame(request)
        options = parse_options(request, self.aggregator.fanout.engines, self.default_max_results)
        found, outcomes, size = await self.aggregator.detect(request.frame, options, context)
        return v1_response(request, found, outcomes, size, self.host, start)

    async def Detect(
        self, request: detection_pb2.DetectRequest, context: grpc.aio.ServicerContext
    ) -> detection_pb2.DetectResponse:
        return await guarded(self.guard, context, "Detect", partial(self._detect_frame, request, context))

    async def DetectStream(
        self,
        request_iterator: AsyncIterator[detection_pb2.DetectRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[detection_pb2.DetectResponse]:
        # One frame at a time per stream, answered in order, as the thread-pool servicer does.
        async for request in request_iterator:
            if self.guard.draining.is_set():
                # As the thread-pool servicer does: a stream would hold a draining server for
                # its whole grace period; ending it lets the robot reconnect elsewhere at once.
                await context.abort(grpc.StatusCode.UNAVAILABLE, DRAINING_DETAILS)
            work = partial(self._detect_frame, request, context)
            yield await guarded(self.guard, context, "DetectStream", work)


class AsyncLegacyObjectDetectionServicer(robot_pb2_grpc.ObjectDetectionServicer):
    """The deployed robots' protocol on the asyncio server."""

    def __init__(
        self,
        aggregator: AsyncAggregator,
        host: HostInfo,
        guard: RequestGuard,
        allowed_users: frozenset[int],
    ) -> None:
        self.aggregator = aggregator
        self.host = host
        self.guard = guard
        self.allowed_users = allowed_users

    async def _object_detect(
        self, request: robot_pb2.ObjectDetectionRequest, context: grpc.aio.ServicerContext
    ) -> robot_pb2.ObjectDetectionResponse:
        options = legacy_options(request, self.allowed_users, self.aggregator.fanout.engines)
        found, _outcomes, _size = await self.aggregator.detect(legacy_frame(request), options, context)
        return legacy_response(request, found, self.host)

    async def ObjectDetect(
        self, request: robot_pb2.ObjectDetectionRequest, context: grpc.aio.ServicerContext
    ) -> robot_pb2.ObjectDetectionResponse:
        work = partial(self._object_detect, request, context)
        return await guarded(self.guard, context, "ObjectDetect", work)
