from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Frame(_message.Message):
    __slots__ = ("number", "capture_time_us", "jpeg", "source_id")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    JPEG_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    number: int
    capture_time_us: int
    jpeg: bytes
    source_id: str
    def __init__(self, number: _Optional[int] = ..., capture_time_us: _Optional[int] = ..., jpeg: _Optional[bytes] = ..., source_id: _Optional[str] = ...) -> None: ...

class DetectRequest(_message.Message):
    __slots__ = ("frame", "engines", "max_results", "min_confidence", "classes", "deadline_ms", "regions")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    ENGINES_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    frame: Frame
    engines: _containers.RepeatedScalarFieldContainer[str]
    max_results: int
    min_confidence: float
    classes: _containers.RepeatedScalarFieldContainer[str]
    deadline_ms: int
    regions: _containers.RepeatedCompositeFieldContainer[Detection]
    def __init__(self, frame: _Optional[_Union[Frame, _Mapping]] = ..., engines: _Optional[_Iterable[str]] = ..., max_results: _Optional[int] = ..., min_confidence: _Optional[float] = ..., classes: _Optional[_Iterable[str]] = ..., deadline_ms: _Optional[int] = ..., regions: _Optional[_Iterable[_Union[Detection, _Mapping]]] = ...) -> None: ...

class Box(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: int
    y: int
    width: int
    height: int
    def __init__(self, x: _Optional[int] = ..., y: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class Color(_message.Message):
    __slots__ = ("r", "g", "b")
    R_FIELD_NUMBER: _ClassVar[int]
    G_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    r: int
    g: int
    b: int
    def __init__(self, r: _Optional[int] = ..., g: _Optional[int] = ..., b: _Optional[int] = ...) -> None: ...

class Detection(_message.Message):
    __slots__ = ("label", "engine", "confidence", "box", "center_color", "attributes")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    CENTER_COLOR_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    label: str
    engine: str
    confidence: float
    box: Box
    center_color: Color
    attributes: _struct_pb2.Struct
    def __init__(self, label: _Optional[str] = ..., engine: _Optional[str] = ..., confidence: _Optional[float] = ..., box: _Optional[_Union[Box, _Mapping]] = ..., center_color: _Optional[_Union[Color, _Mapping]] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ServedBy(_message.Message):
    __slots__ = ("hostname", "address")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    address: str
    def __init__(self, hostname: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class EngineStatus(_message.Message):
    __slots__ = ("engine", "ok", "code", "error", "latency_ms", "served_by", "detections", "model_version")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    engine: str
    ok: bool
    code: str
    error: str
    latency_ms: float
    served_by: ServedBy
    detections: int
    model_version: str
    def __init__(self, engine: _Optional[str] = ..., ok: _Optional[bool] = ..., code: _Optional[str] = ..., error: _Optional[str] = ..., latency_ms: _Optional[float] = ..., served_by: _Optional[_Union[ServedBy, _Mapping]] = ..., detections: _Optional[int] = ..., model_version: _Optional[str] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("total_ms", "decode_ms", "inference_ms", "queue_ms")
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_MS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    total_ms: float
    decode_ms: float
    inference_ms: float
    queue_ms: float
    def __init__(self, total_ms: _Optional[float] = ..., decode_ms: _Optional[float] = ..., inference_ms: _Optional[float] = ..., queue_ms: _Optional[float] = ...) -> None: ...

class DetectResponse(_message.Message):
    __slots__ = ("frame_number", "capture_time_us", "source_id", "detections", "engines", "served_by", "timings", "image_width", "image_height")
    FRAME_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_US_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    ENGINES_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    frame_number: int
    capture_time_us: int
    source_id: str
    detections: _containers.RepeatedCompositeFieldContainer[Detection]
    engines: _containers.RepeatedCompositeFieldContainer[EngineStatus]
    served_by: ServedBy
    timings: Timings
    image_width: int
    image_height: int
    def __init__(self, frame_number: _Optional[int] = ..., capture_time_us: _Optional[int] = ..., source_id: _Optional[str] = ..., detections: _Optional[_Iterable[_Union[Detection, _Mapping]]] = ..., engines: _Optional[_Iterable[_Union[EngineStatus, _Mapping]]] = ..., served_by: _Optional[_Union[ServedBy, _Mapping]] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ...) -> None: ...
