from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VideoFrame(_message.Message):
    __slots__ = ("number", "timestamp", "img")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    IMG_FIELD_NUMBER: _ClassVar[int]
    number: int
    timestamp: int
    img: bytes
    def __init__(self, number: _Optional[int] = ..., timestamp: _Optional[int] = ..., img: _Optional[bytes] = ...) -> None: ...

class ObjectDetectionRequest(_message.Message):
    __slots__ = ("user_id", "frame", "wantface", "wantyolo", "max_results")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    WANTFACE_FIELD_NUMBER: _ClassVar[int]
    WANTYOLO_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    frame: VideoFrame
    wantface: int
    wantyolo: int
    max_results: int
    def __init__(self, user_id: _Optional[int] = ..., frame: _Optional[_Union[VideoFrame, _Mapping]] = ..., wantface: _Optional[int] = ..., wantyolo: _Optional[int] = ..., max_results: _Optional[int] = ...) -> None: ...

class DetectedObject(_message.Message):
    __slots__ = ("name", "eng", "confidence", "x", "y", "w", "h", "r", "g", "b")
    class Eng(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        FACE: _ClassVar[DetectedObject.Eng]
        YOLO: _ClassVar[DetectedObject.Eng]
    FACE: DetectedObject.Eng
    YOLO: DetectedObject.Eng
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENG_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    W_FIELD_NUMBER: _ClassVar[int]
    H_FIELD_NUMBER: _ClassVar[int]
    R_FIELD_NUMBER: _ClassVar[int]
    G_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    name: str
    eng: DetectedObject.Eng
    confidence: float
    x: int
    y: int
    w: int
    h: int
    r: int
    g: int
    b: int
    def __init__(self, name: _Optional[str] = ..., eng: _Optional[_Union[DetectedObject.Eng, str]] = ..., confidence: _Optional[float] = ..., x: _Optional[int] = ..., y: _Optional[int] = ..., w: _Optional[int] = ..., h: _Optional[int] = ..., r: _Optional[int] = ..., g: _Optional[int] = ..., b: _Optional[int] = ...) -> None: ...

class ObjectDetectionResponse(_message.Message):
    __slots__ = ("number", "timestamp", "objects", "ipv4", "name")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    IPV4_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    number: int
    timestamp: int
    objects: _containers.RepeatedCompositeFieldContainer[DetectedObject]
    ipv4: int
    name: str
    def __init__(self, number: _Optional[int] = ..., timestamp: _Optional[int] = ..., objects: _Optional[_Iterable[_Union[DetectedObject, _Mapping]]] = ..., ipv4: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class FaceDetectionRequest(_message.Message):
    __slots__ = ("frame", "max_results")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    frame: VideoFrame
    max_results: int
    def __init__(self, frame: _Optional[_Union[VideoFrame, _Mapping]] = ..., max_results: _Optional[int] = ...) -> None: ...

class DetectedFace(_message.Message):
    __slots__ = ("confidence", "x", "y", "w", "h", "r", "g", "b")
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    W_FIELD_NUMBER: _ClassVar[int]
    H_FIELD_NUMBER: _ClassVar[int]
    R_FIELD_NUMBER: _ClassVar[int]
    G_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    confidence: float
    x: int
    y: int
    w: int
    h: int
    r: int
    g: int
    b: int
    def __init__(self, confidence: _Optional[float] = ..., x: _Optional[int] = ..., y: _Optional[int] = ..., w: _Optional[int] = ..., h: _Optional[int] = ..., r: _Optional[int] = ..., g: _Optional[int] = ..., b: _Optional[int] = ...) -> None: ...

class FaceDetectionResponse(_message.Message):
    __slots__ = ("number", "timestamp", "faces")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    number: int
    timestamp: int
    faces: _containers.RepeatedCompositeFieldContainer[DetectedFace]
    def __init__(self, number: _Optional[int] = ..., timestamp: _Optional[int] = ..., faces: _Optional[_Iterable[_Union[DetectedFace, _Mapping]]] = ...) -> None: ...

class YoloDetectionRequest(_message.Message):
    __slots__ = ("frame", "max_results")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    frame: VideoFrame
    max_results: int
    def __init__(self, frame: _Optional[_Union[VideoFrame, _Mapping]] = ..., max_results: _Optional[int] = ...) -> None: ...

class DetectedYolo(_message.Message):
    __slots__ = ("name", "confidence", "x", "y", "w", "h", "r", "g", "b")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    W_FIELD_NUMBER: _ClassVar[int]
    H_FIELD_NUMBER: _ClassVar[int]
    R_FIELD_NUMBER: _ClassVar[int]
    G_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    name: str
    confidence: float
    x: int
    y: int
    w: int
    h: int
    r: int
    g: int
    b: int
    def __init__(self, name: _Optional[str] = ..., confidence: _Optional[float] = ..., x: _Optional[int] = ..., y: _Optional[int] = ..., w: _Optional[int] = ..., h: _Optional[int] = ..., r: _Optional[int] = ..., g: _Optional[int] = ..., b: _Optional[int] = ...) -> None: ...

class YoloDetectionResponse(_message.Message):
    __slots__ = ("number", "timestamp", "yolos")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    YOLOS_FIELD_NUMBER: _ClassVar[int]
    number: int
    timestamp: int
    yolos: _containers.RepeatedCompositeFieldContainer[DetectedYolo]
    def __init__(self, number: _Optional[int] = ..., timestamp: _Optional[int] = ..., yolos: _Optional[_Iterable[_Union[DetectedYolo, _Mapping]]] = ...) -> None: ...
