"""The aggregator's pure request and response mapping: no I/O, no waiting, no gRPC calls.

What a client asked becomes what each engine is asked (`engine_request`); what the engines
said becomes one answer (`merge`, `v1_response`, `legacy_response`), with a status per engine
so a partial answer is visible. The servicer and the fan-out call these; tests can too.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field

import grpc

from liquidedge.detections import Detections
from liquidedge.detector_servicer import frame_deadline
from liquidedge.errors import BadRequestError, UnknownUserError
from liquidedge.hostinfo import HostInfo
from liquidedge.imaging import ImageLimits, check_frame
from liquidedge.legacy import robot_pb2
from liquidedge.messages import (
    MAX_RESULTS_LIMIT,
    DetectOptions,
    check_max_results,
    detections_from_proto,
    detections_to_proto,
    legacy_frame_to_v1,
    legacy_objects,
    served_by,
)
from liquidedge.status import AbortError
from liquidedge.v1 import detection_pb2

# Codes that mean the frame itself is bad: every engine would refuse it, so say so to the client.
_CLIENT_CODES = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
# The legacy request's engine switches, by engine name.
_LEGACY_ENGINE_FIELDS = (("face", "wantface"), ("yolo", "wantyolo"))


@dataclass
class EngineOutcome:
    """What one engine said about one frame: its boxes, or why there are none."""

    engine: str
    code: grpc.StatusCode
    error: str = ""
    latency_ms: float = 0.0
    detections: Detections = field(default_factory=Detections.empty)
    served_by: detection_pb2.ServedBy | None = None
    reported: int = 0
    model_version: str = ""

    @property
    def ok(self) -> bool:
        return self.code == grpc.StatusCode.OK

    @classmethod
    def answered(cls, engine: str, reply: detection_pb2.DetectResponse) -> EngineOutcome:
        return cls(
            engine,
            grpc.StatusCode.OK,
            detections=detections_from_proto(reply.detections),
            served_by=reply.served_by,
            reported=len(reply.detections),
            # The detector's own status for its engine says which model version answered.
            model_version=next((e.model_version for e in reply.engines if e.engine == engine), ""),
        )

    def to_proto(self) -> detection_pb2.EngineStatus:
        return detection_pb2.EngineStatus(
            engine=self.engine,
            ok=self.ok,
            code=self.code.name,
            error=self.error,
            latency_ms=self.latency_ms,
            served_by=self.served_by,
            detections=self.reported,
            model_version=self.model_version,
        )


def frame_budget(
    frame: detection_pb2.Frame, limits: ImageLimits, context: grpc.aio.ServicerContext, deadline_ms: int
) -> tuple[tuple[int, int], float | None]:
    """Refuse a frame over the limits before any engine sees it; return its size and time budget."""
    width, height = check_frame(frame.jpeg, limits)
    deadline = frame_deadline(context, deadline_ms)
    return (width, height), None if deadline is None else deadline - time.monotonic()


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


def refine_request(name: str, frame: detection_pb2.Frame, regions: Detections) -> detection_pb2.DetectRequest:
    """What a refining engine is asked: the frame and the boxes to refine, nothing filtered."""
    return detection_pb2.DetectRequest(frame=frame, engines=[name], regions=detections_to_proto(regions))


def merge(
    outcomes: list[EngineOutcome], options: DetectOptions, refiners: Collection[str] = ()
) -> Detections:
    """Boxes of every engine that answered; raise only when none did.

    Refining engines (`refiners`) add no boxes of their own (their attributes are already on
    the boxes they refined) and never fail a frame. None of the others answered: a bad frame
    keeps its own code, a spent deadline is DEADLINE_EXCEEDED, and anything else (engines
    down) is UNAVAILABLE.
    """
    outcomes = [o for o in outcomes if o.engine not in refiners]
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
    request: robot_pb2.ObjectDetectionRequest,
    allowed_users: frozenset[int],
    engines: tuple[str, ...],
    names: bool = False,
) -> DetectOptions:
    """Check a legacy request: a known user, at least one engine, and only engines served here.

    With `names` (the operator's choice), faces are also sent to recognition where it is served.
    """
    if request.user_id not in allowed_users:
        raise UnknownUserError(f"user_id {request.user_id} is not allowed on this mesh")
    wanted = [name for name, switch in _LEGACY_ENGINE_FIELDS if getattr(request, switch)]
    if not wanted:
        raise BadRequestError("request asks for no engine: set wantface and/or wantyolo to 1")
    unavailable = [name for name in wanted if name not in engines]
    if unavailable:
        raise BadRequestError(f"engine(s) {unavailable} are not configured on this aggregator")
    if names and "face" in wanted and "recognition" in engines:
        wanted.append("recognition")
    # Legacy max_results: 0 means no limit.
    max_results = check_max_results(request.max_results, MAX_RESULTS_LIMIT)
    return DetectOptions(tuple(wanted), max_results, 0.0, ())


def legacy_frame(request: robot_pb2.ObjectDetectionRequest) -> detection_pb2.Frame:
    return legacy_frame_to_v1(request.frame, source_id=f"legacy-user-{request.user_id}")


def legacy_response(
    request: robot_pb2.ObjectDetectionRequest, found: Detections, host: HostInfo, names: bool = False
) -> robot_pb2.ObjectDetectionResponse:
    return robot_pb2.ObjectDetectionResponse(
        number=request.frame.number,
        timestamp=request.frame.timestamp,
        objects=legacy_objects(found, names=names),
        ipv4=host.ipv4_int,
        name=host.hostname,
    )
