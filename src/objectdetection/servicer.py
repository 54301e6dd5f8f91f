"""gRPC mapping for the aggregator: v1 `Detector` and legacy `ObjectDetection/ObjectDetect`."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc

from liquidedge.detections import Detections
from liquidedge.detector_servicer import GuardedDetectorServicer, frame_deadline, require_frame
from liquidedge.errors import BadRequestError, UnknownUserError
from liquidedge.hostinfo import HostInfo
from liquidedge.imaging import ImageLimits, check_frame
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.messages import (
    MAX_RESULTS_LIMIT,
    DetectOptions,
    check_max_results,
    detections_to_proto,
    legacy_frame_to_v1,
    legacy_objects,
    parse_options,
    served_by,
)
from liquidedge.status import RequestGuard
from liquidedge.v1 import detection_pb2
from objectdetection.fanout import EngineOutcome, FanOut, merge

# Called after every answered frame with (jpeg, detections); the live view keeps the latest.
FrameObserver = Callable[[bytes, Detections], None]


class Aggregator:
    """Validate, fan out, merge: the protocol-independent part of an aggregator request."""

    def __init__(
        self,
        fanout: FanOut,
        limits: ImageLimits,
        observer: FrameObserver | None = None,
    ) -> None:
        self.fanout = fanout
        self.limits = limits
        self.observer = observer

    def detect(
        self, frame: detection_pb2.Frame, options: DetectOptions, context: grpc.ServicerContext
    ) -> tuple[Detections, list[EngineOutcome], tuple[int, int]]:
        size, budget_s = frame_budget(frame, self.limits, context, options.deadline_ms)
        outcomes = self.fanout.run(frame, options, budget_s, context)
        found = merge(outcomes, options)
        if self.observer is not None:
            self.observer(frame.jpeg, found)
        return found, outcomes, size


class AggregatorServicer(GuardedDetectorServicer):
    def __init__(
        self, aggregator: Aggregator, host: HostInfo, guard: RequestGuard, default_max_results: int = 100
    ) -> None:
        self.aggregator = aggregator
        self.host = host
        self.guard = guard
        self.default_max_results = default_max_results

    def detect_frame(
        self, request: detection_pb2.DetectRequest, context: grpc.ServicerContext
    ) -> detection_pb2.DetectResponse:
        start = time.perf_counter()
        require_frame(request)
        options = parse_options(request, self.aggregator.fanout.engines, self.default_max_results)
        found, outcomes, size = self.aggregator.detect(request.frame, options, context)
        return v1_response(request, found, outcomes, size, self.host, start)


class LegacyObjectDetectionServicer(robot_pb2_grpc.ObjectDetectionServicer):
    """The deployed robots' protocol, answered by the same aggregator."""

    def __init__(
        self, aggregator: Aggregator, host: HostInfo, guard: RequestGuard, allowed_users: frozenset[int]
    ) -> None:
        self.aggregator = aggregator
        self.host = host
        self.guard = guard
        self.allowed_users = allowed_users

    def _options(self, request: robot_pb2.ObjectDetectionRequest) -> DetectOptions:
        return legacy_options(request, self.allowed_users, self.aggregator.fanout.engines)

    def ObjectDetect(
        self, request: robot_pb2.ObjectDetectionRequest, context: grpc.ServicerContext
    ) -> robot_pb2.ObjectDetectionResponse:
        with self.guard(context, "ObjectDetect"):
            options = self._options(request)
            frame = legacy_frame(request)
            found, _outcomes, _size = self.aggregator.detect(frame, options, context)
            return legacy_response(request, found, self.host)


# Pure request/response mapping, shared by the thread-pool servicers above and the asyncio ones.


def frame_budget(
    frame: detection_pb2.Frame, limits: ImageLimits, context: grpc.ServicerContext, deadline_ms: int
) -> tuple[tuple[int, int], float | None]:
    """Refuse a frame over the limits before any engine sees it; return its size and time budget."""
    width, height = check_frame(frame.jpeg, limits)
    deadline = frame_deadline(context, deadline_ms)
    return (width, height), None if deadline is None else deadline - time.monotonic()


def v1_response(
    request: detection_pb2.DetectRequest,
    found: Detections,
    outcomes: list[EngineOutcome],
    size: tuple[int, int],
    host: HostInfo,
    started: float,
) -> detection_pb2.DetectResponse:
    """The v1 answer; `started` is the perf_counter reading when the frame arrived."""
    width, height = size
    return detection_pb2.DetectResponse(
        frame_number=request.frame.number,
        capture_time_us=request.frame.capture_time_us,
        source_id=request.frame.source_id,
        detections=detections_to_proto(found),
        engines=[o.to_proto() for o in outcomes],
        served_by=served_by(host),
        timings=detection_pb2.Timings(total_ms=(time.perf_counter() - started) * 1000.0),
        image_width=width,
        image_height=height,
    )


def legacy_options(
    request: robot_pb2.ObjectDetectionRequest, allowed_users: frozenset[int], engines: tuple[str, ...]
) -> DetectOptions:
    """Check a legacy request: a known user, at least one engine, and only engines served here."""
    if request.user_id not in allowed_users:
        raise UnknownUserError(f"user_id {request.user_id} is not allowed on this mesh")
    wanted = [name for name, flag in (("face", request.wantface), ("yolo", request.wantyolo)) if flag]
    if not wanted:
        raise BadRequestError("request asks for no engine: set wantface and/or wantyolo to 1")
    unavailable = [name for name in wanted if name not in engines]
    if unavailable:
        raise BadRequestError(f"engine(s) {unavailable} are not configured on this aggregator")
    # Legacy max_results: 0 means no limit.
    max_results = check_max_results(request.max_results, MAX_RESULTS_LIMIT)
    return DetectOptions(tuple(wanted), max_results, 0.0, ())


def legacy_frame(request: robot_pb2.ObjectDetectionRequest) -> detection_pb2.Frame:
    return legacy_frame_to_v1(request.frame, source_id=f"legacy-user-{request.user_id}")


def legacy_response(
    request: robot_pb2.ObjectDetectionRequest, found: Detections, host: HostInfo
) -> robot_pb2.ObjectDetectionResponse:
    return robot_pb2.ObjectDetectionResponse(
        number=request.frame.number,
        timestamp=request.frame.timestamp,
        objects=legacy_objects(found),
        ipv4=host.ipv4_int,
        name=host.hostname,
    )
