"""Hypothesis strategies for v1 and legacy request messages, valid and hostile field by field.

Each field mixes values a real client sends (so some requests get all the way to the models)
with the ones a broken or hostile client sends: int32/int64 extremes, NaN and infinities,
unknown engine names, Unicode, empty and absent frames.
"""

from __future__ import annotations

from hypothesis import strategies as st
from jpeg_strategies import frame_bytes, real_jpegs

from liquidedge.legacy import robot_pb2
from liquidedge.v1 import detection_pb2

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
INT32_EDGES = (INT32[0], INT32[0] + 1, -1, 0, 1, 2, 1000, 1001, INT32[1] - 1, INT32[1])
INT64_EDGES = (INT64[0], -1, 0, 1, 2**31, 2**32, 2**53 + 1, INT64[1])


def int32s() -> st.SearchStrategy[int]:
    return st.sampled_from(INT32_EDGES) | st.integers(*INT32)


def int64s() -> st.SearchStrategy[int]:
    return st.sampled_from(INT64_EDGES) | st.integers(*INT64)


def engine_names() -> st.SearchStrategy[str]:
    return st.sampled_from(
        ("face", "yolo", "FACE", " yolo ", "", "sonar", "face\x00", "yolo;face")
    ) | st.text(max_size=12)


def mostly(draw: st.DrawFn, valid: st.SearchStrategy, hostile: st.SearchStrategy) -> object:
    """A valid value three times in four, so many requests get past validation to the models
    (every field hostile at once would only ever test the first check)."""
    return draw(hostile) if draw(st.integers(0, 3)) == 3 else draw(valid)


def good_frame_bytes() -> st.SearchStrategy[bytes]:
    return st.sampled_from(real_jpegs())


@st.composite
def v1_requests(draw: st.DrawFn, engines: tuple[str, ...] = ("face", "yolo")) -> detection_pb2.DetectRequest:
    """A DetectRequest; `engines` are the names a valid request for this target would use."""
    request = detection_pb2.DetectRequest(
        engines=mostly(
            draw, st.lists(st.sampled_from(engines), max_size=2), st.lists(engine_names(), max_size=3)
        ),
        max_results=mostly(draw, st.integers(0, 20), int32s()),
        min_confidence=mostly(
            draw,
            st.sampled_from((0.0, 0.25, 0.5, 1.0)) | st.floats(0.0, 1.0, width=32),
            st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True),
        ),
        classes=mostly(
            draw,
            st.lists(st.sampled_from(("person", "face", "dog", "PERSON", " ")), max_size=2),
            st.lists(st.text(max_size=10), max_size=4),
        ),
        deadline_ms=mostly(draw, st.just(0), st.integers(1, 50) | int32s()),
    )
    if draw(st.integers(0, 9)) > 0:  # one in ten has no frame at all
        request.frame.CopyFrom(
            detection_pb2.Frame(
                number=draw(int64s()),
                capture_time_us=draw(int64s()),
                jpeg=mostly(draw, good_frame_bytes(), frame_bytes()),
                source_id=draw(st.text(max_size=40)),
            )
        )
    return request


@st.composite
def legacy_frames(draw: st.DrawFn) -> robot_pb2.VideoFrame:
    return robot_pb2.VideoFrame(
        number=draw(int32s()), timestamp=draw(int64s()), img=mostly(draw, good_frame_bytes(), frame_bytes())
    )


@st.composite
def object_detection_requests(draw: st.DrawFn) -> robot_pb2.ObjectDetectionRequest:
    """The deployed robots' request: user 1 and 0/1 flags most of the time, anything otherwise."""
    flag = st.sampled_from((0, 1, 1))
    request = robot_pb2.ObjectDetectionRequest(
        user_id=mostly(draw, st.just(1), int32s()),
        wantface=mostly(draw, flag, int32s()),
        wantyolo=mostly(draw, flag, int32s()),
        max_results=mostly(draw, st.integers(0, 20), int32s()),
    )
    if draw(st.integers(0, 9)) > 0:
        request.frame.CopyFrom(draw(legacy_frames()))
    return request


@st.composite
def single_engine_requests(draw: st.DrawFn, message: type) -> object:
    """FaceDetectionRequest or YoloDetectionRequest (frame = 1, max_results = 2)."""
    request = message(max_results=mostly(draw, st.integers(0, 20), int32s()))
    if draw(st.integers(0, 9)) > 0:
        request.frame.CopyFrom(draw(legacy_frames()))
    return request


@st.composite
def raw_bodies(draw: st.DrawFn, valid: st.SearchStrategy) -> bytes:
    """Bytes sent as a request body: random, or a serialised request cut, flipped or padded."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=256))
    data = bytearray(draw(valid).SerializeToString())
    edit = draw(st.sampled_from(("cut", "flip", "append", "varint")))
    if edit == "cut" and data:
        del data[draw(st.integers(0, len(data) - 1)) :]
    elif edit == "flip" and data:
        data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    elif edit == "append":
        data += draw(st.binary(min_size=1, max_size=32))
    else:  # an over-long varint: ten continuation bytes
        data[0:0] = b"\x08" + b"\xff" * draw(st.integers(9, 12)) + b"\x01"
    return bytes(data)
