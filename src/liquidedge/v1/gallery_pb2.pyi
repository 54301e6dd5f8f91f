from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Photo(_message.Message):
    __slots__ = ("filename", "data")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    filename: str
    data: bytes
    def __init__(self, filename: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("name", "photos", "replace")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    photos: _containers.RepeatedCompositeFieldContainer[Photo]
    replace: bool
    def __init__(self, name: _Optional[str] = ..., photos: _Optional[_Iterable[_Union[Photo, _Mapping]]] = ..., replace: _Optional[bool] = ...) -> None: ...

class ForgetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListPeopleRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Person(_message.Message):
    __slots__ = ("name", "photos")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    name: str
    photos: int
    def __init__(self, name: _Optional[str] = ..., photos: _Optional[int] = ...) -> None: ...

class GalleryVersion(_message.Message):
    __slots__ = ("version", "parent", "people", "model_id", "store_name", "channel")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PEOPLE_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    STORE_NAME_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    version: str
    parent: str
    people: _containers.RepeatedCompositeFieldContainer[Person]
    model_id: str
    store_name: str
    channel: str
    def __init__(self, version: _Optional[str] = ..., parent: _Optional[str] = ..., people: _Optional[_Iterable[_Union[Person, _Mapping]]] = ..., model_id: _Optional[str] = ..., store_name: _Optional[str] = ..., channel: _Optional[str] = ...) -> None: ...
