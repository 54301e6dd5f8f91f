"""The legacy transport: the deployed robots' unary `ObjectDetection/ObjectDetect`, a frame a call.

Each call runs on the link's worker thread with the per-frame deadline as its timeout, so the
frame in flight is a local variable: one writer by construction.
"""

from __future__ import annotations

import ipaddress

import grpc

from liquidedge.detections import Detections
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from robotclient.link.values import Answer, LinkError, LinkSettings, OutgoingFrame, Wire


def run_unary(wire: Wire) -> None:
    """Unary calls, one a frame, until the link stops; raises `LinkError` when a call fails."""
    stub = robot_pb2_grpc.ObjectDetectionStub(wire.channel)
    while not wire.stopping.is_set():
        frame = wire.next_frame()
        if frame is None:
            continue
        wire.sent()
        try:
            response = stub.ObjectDetect(
                legacy_request(frame, wire.settings),
                timeout=wire.settings.deadline_s,
                wait_for_ready=False,
                metadata=wire.settings.metadata,
            )
        except grpc.RpcError as error:
            raise LinkError.from_rpc(error, frame.number) from error
        wire.deliver(legacy_answer(response, wire.clock.now()))


def legacy_request(frame: OutgoingFrame, settings: LinkSettings) -> robot_pb2.ObjectDetectionRequest:
    wants = set(settings.engines) or {"face", "yolo"}
    return robot_pb2.ObjectDetectionRequest(
        user_id=settings.user_id,
        frame=robot_pb2.VideoFrame(
            number=frame.number, timestamp=round(frame.capture_time_s * 1e6), img=frame.jpeg
        ),
        wantface=int("face" in wants),
        wantyolo=int("yolo" in wants),
        max_results=settings.max_results,
    )


def legacy_answer(response: robot_pb2.ObjectDetectionResponse, received_s: float) -> Answer:
    capture = response.timestamp / 1e6
    objects = list(response.objects)
    detections = (
        Detections(
            xyxy=[(o.x, o.y, o.x + o.w, o.y + o.h) for o in objects],
            confidence=[o.confidence for o in objects],
            label=[o.name for o in objects],
            engine=["face" if o.eng == robot_pb2.DetectedObject.FACE else "yolo" for o in objects],
            color_rgb=[(o.r, o.g, o.b) for o in objects],
        )
        if objects
        else Detections.empty()
    )
    return Answer(
        frame_number=response.number,
        capture_time_s=capture,
        received_s=received_s,
        rtt_s=received_s - capture,
        detections=detections,
        served_by_host=response.name,
        served_by_address=str(ipaddress.IPv4Address(response.ipv4)) if response.ipv4 else "",
        engines={},
    )
