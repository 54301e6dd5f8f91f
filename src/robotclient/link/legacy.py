"""The legacy transport: the deployed robots' unary `ObjectDetection/ObjectDetect`, a frame a call.

Each call runs on the link's worker thread with the per-frame deadline as its timeout, so the
frame in flight is a local variable: one writer by construction.

Faces come back named `face`, unless the mesh's operator turns on names for legacy robots: then
a recognised face is named after the person. Either way a face is a `face` here; the name, when
there is one, becomes its identity (the attribute v1 answers carry), so `--follow` works on
both protocols.
"""

from __future__ import annotations

import ipaddress

import grpc

from liquidedge.detections import Detections
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from robotclient.identity import IDENTITY, UNKNOWN
from robotclient.link.values import Answer, LinkError, LinkSettings, OutgoingFrame, Wire

# What the legacy protocol calls every face unless the mesh sends names.
LEGACY_FACE_NAME = "face"


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
    detections = legacy_detections(objects) if objects else Detections.empty()
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


def legacy_detections(objects: list[robot_pb2.DetectedObject]) -> Detections:
    """The objects as detections; named faces (the mesh's legacy names) are faces with an identity."""
    is_face = [o.eng == robot_pb2.DetectedObject.FACE for o in objects]
    named = [face and o.name != LEGACY_FACE_NAME for face, o in zip(is_face, objects, strict=True)]
    data = {}
    if any(named):
        data[IDENTITY] = [
            o.name if name else (UNKNOWN if face else None)
            for o, face, name in zip(objects, is_face, named, strict=True)
        ]
    return Detections(
        xyxy=[(o.x, o.y, o.x + o.w, o.y + o.h) for o in objects],
        confidence=[o.confidence for o in objects],
        label=[LEGACY_FACE_NAME if face else o.name for face, o in zip(is_face, objects, strict=True)],
        engine=["face" if face else "yolo" for face in is_face],
        color_rgb=[(o.r, o.g, o.b) for o in objects],
        data=data,
    )
