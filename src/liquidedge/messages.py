"""Mapping between protobuf messages and the internal `Detections` type, plus request checks.

The servicers only map messages; every rule about what a request may contain lives here,
so the detectors and the aggregator refuse the same things with the same words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.json_format import MessageToDict

from liquidedge.detections import Detections
from liquidedge.errors import BadRequestError
from liquidedge.hostinfo import HostInfo
from liquidedge.legacy import robot_pb2
from liquidedge.v1 import detection_pb2

MAX_RESULTS_LIMIT = 1000
# Every engine name a request may carry ("recognition" names the face engine's boxes;
# "classifier" labels whole frames, "classifier-crops" the crops of chosen YOLO boxes).
KNOWN_ENGINES = ("face", "yolo", "recognition", "classifier", "classifier-crops")
# The legacy protocol names a face "face"; with names on, a recognised face is named by its identity.
LEGACY_FACE_NAME = "face"
# The identity of a face nobody enrolled matches, or that was not recognised (too small, late...).
UNKNOWN_IDENTITY = "unknown"


@dataclass(frozen=True)
class DetectOptions:
    """What the client asked for, validated."""

    engines: tuple[str, ...]
    max_results: int
    min_confidence: float
    classes: tuple[str, ...]
    deadline_ms: int = 0


def parse_options(
    request: detection_pb2.DetectRequest, served_engines: Sequence[str], default_max_results: int
) -> DetectOptions:
    """Check a v1 request against what this server runs. Raises BadRequestError with the reason."""
    names = [name.strip().lower() for name in request.engines]
    unknown = sorted({n for n in names if n not in KNOWN_ENGINES})
    if unknown:
        raise BadRequestError(f"unknown engine(s) {unknown}; known engines are {list(KNOWN_ENGINES)}")
    not_here = sorted({n for n in names if n not in served_engines})
    if not_here:
        raise BadRequestError(
            f"engine(s) {not_here} are not served here; this service runs {list(served_engines)}"
        )
    engines = tuple(dict.fromkeys(names)) or tuple(served_engines)
    return DetectOptions(
        engines=engines,
        max_results=check_max_results(request.max_results, default_max_results),
        min_confidence=check_min_confidence(request.min_confidence),
        classes=tuple(c.strip() for c in request.classes if c.strip()),
        deadline_ms=check_deadline_ms(request.deadline_ms),
    )


def check_max_results(value: int, default: int) -> int:
    if value < 0 or value > MAX_RESULTS_LIMIT:
        raise BadRequestError(f"max_results must be 0..{MAX_RESULTS_LIMIT} (0 = server default), got {value}")
    return value or default


def check_min_confidence(value: float) -> float:
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise BadRequestError(f"min_confidence must be in [0, 1], got {value}")
    return float(value)


def check_deadline_ms(value: int) -> int:
    if value < 0:
        raise BadRequestError(f"deadline_ms must be >= 0 (0 = the call deadline), got {value}")
    return value


def detections_to_proto(found: Detections) -> list[detection_pb2.Detection]:
    boxes = found.xywh
    detections = []
    for i, (x, y, w, h) in enumerate(boxes):
        detection = detection_pb2.Detection(
            label=str(found.label[i]),
            engine=str(found.engine[i]),
            confidence=float(found.confidence[i]),
            box=detection_pb2.Box(x=int(x), y=int(y), width=int(w), height=int(h)),
            center_color=detection_pb2.Color(
                r=int(found.color_rgb[i, 0]), g=int(found.color_rgb[i, 1]), b=int(found.color_rgb[i, 2])
            ),
        )
        attributes = found.attributes(i)
        if attributes:
            detection.attributes.update(attributes)
        detections.append(detection)
    return detections


def _attribute_columns(items: Sequence[detection_pb2.Detection]) -> dict[str, list[Any]]:
    """The union of every detection's attributes: NaN for a missing number, None for the rest."""
    keys = list(dict.fromkeys(key for d in items for key in d.attributes))
    columns: dict[str, list[Any]] = {key: [] for key in keys}
    for item in items:
        values = MessageToDict(item.attributes) if item.attributes.fields else {}
        for key in keys:
            columns[key].append(values.get(key))
    for key, column in columns.items():
        given = [v for v in column if v is not None]
        if all(isinstance(v, float | int) and not isinstance(v, bool) for v in given):
            columns[key] = [float("nan") if v is None else float(v) for v in column]
    return columns


def detections_from_proto(items: Iterable[detection_pb2.Detection]) -> Detections:
    items = list(items)
    if not items:
        return Detections.empty()
    return Detections(
        xyxy=[(d.box.x, d.box.y, d.box.x + d.box.width, d.box.y + d.box.height) for d in items],
        confidence=[d.confidence for d in items],
        label=[d.label for d in items],
        engine=[d.engine for d in items],
        color_rgb=[(d.center_color.r, d.center_color.g, d.center_color.b) for d in items],
        data=_attribute_columns(items),
    )


def served_by(host: HostInfo) -> detection_pb2.ServedBy:
    return detection_pb2.ServedBy(hostname=host.hostname, address=host.address)


def legacy_frame_to_v1(frame: robot_pb2.VideoFrame, source_id: str = "") -> detection_pb2.Frame:
    return detection_pb2.Frame(
        number=frame.number, capture_time_us=frame.timestamp, jpeg=frame.img, source_id=source_id
    )


def _legacy_fields(found: Detections, i: int) -> dict[str, int | float]:
    x, y, w, h = (int(v) for v in found.xywh[i])
    r, g, b = (int(v) for v in found.color_rgb[i])
    return {"confidence": float(found.confidence[i]), "x": x, "y": y, "w": w, "h": h, "r": r, "g": g, "b": b}


def recognised_name(identity: object) -> str | None:
    """The person a box's identity names; None when there is none or it is `UNKNOWN_IDENTITY`."""
    if isinstance(identity, str) and identity not in ("", UNKNOWN_IDENTITY):
        return identity
    return None


def _legacy_name(found: Detections, i: int, names: bool) -> str:
    """The box's label; with `names`, a face recognised as someone is named after them."""
    label = str(found.label[i])
    identity = found.data.get("identity")
    if names and label == LEGACY_FACE_NAME and identity is not None:
        person = recognised_name(identity[i])
        if person is not None:
            return person
    return label


def legacy_objects(found: Detections, *, names: bool = False) -> list[robot_pb2.DetectedObject]:
    """Legacy objects; faces are named `face` unless `names` (the operator's choice) is on."""
    eng = {"face": robot_pb2.DetectedObject.FACE, "yolo": robot_pb2.DetectedObject.YOLO}
    return [
        robot_pb2.DetectedObject(
            name=_legacy_name(found, i, names),
            eng=eng.get(str(found.engine[i]), 0),
            **_legacy_fields(found, i),
        )
        for i in range(len(found))
    ]


def legacy_faces(found: Detections) -> list[robot_pb2.DetectedFace]:
    return [robot_pb2.DetectedFace(**_legacy_fields(found, i)) for i in range(len(found))]


def legacy_yolos(found: Detections) -> list[robot_pb2.DetectedYolo]:
    return [
        robot_pb2.DetectedYolo(name=str(found.label[i]), **_legacy_fields(found, i))
        for i in range(len(found))
    ]
