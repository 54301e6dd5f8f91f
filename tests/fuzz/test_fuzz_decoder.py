"""Property: any bytes either decode within the limits or are refused with a client error.

`decode_jpeg` and `check_frame` sit in front of every engine, so they see every hostile frame.
Whatever the input, the only outcomes allowed are a decoded frame inside the limits,
BadImageError or FrameTooLargeError; and a header that declares too many pixels is refused
before the decoder is ever called (so a 60000x60000 header cannot make us allocate 10 GB).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from unittest import mock

import cv2
import numpy as np
from fuzz_support import FuzzTally, fuzz_settings
from hypothesis import given
from hypothesis import strategies as st
from jpeg_strategies import (
    EOI,
    INTERESTING_MARKERS,
    SOI,
    frame_bytes,
    mutated_jpegs,
    real_jpegs,
    segment,
    sof_segment,
    structured_jpegs,
)

from liquidedge import imaging
from liquidedge.errors import BadImageError, FrameTooLargeError
from liquidedge.imaging import ImageLimits, check_frame, decode_jpeg

DEFAULT = ImageLimits()


def limits_strategy() -> st.SearchStrategy[ImageLimits]:
    """The defaults most of the time; small limits so the limit checks themselves get exercised."""
    small = st.builds(
        ImageLimits,
        max_bytes=st.integers(0, 4096),
        max_pixels=st.integers(1, 5000),
        max_side=st.integers(1, 100),
    )
    return st.just(DEFAULT) | small


def decode_outcome(data: bytes, limits: ImageLimits) -> str:
    """What decode_jpeg did, checking what it returned; raises anything it should not raise."""
    try:
        frame = decode_jpeg(data, limits)
    except FrameTooLargeError:
        return "FrameTooLargeError"
    except BadImageError:
        return "BadImageError"
    assert frame.image_bgr.dtype == np.uint8 and frame.image_bgr.ndim == 3
    assert frame.width * frame.height <= limits.max_pixels
    assert frame.width <= limits.max_side and frame.height <= limits.max_side
    assert len(data) <= limits.max_bytes
    return "decoded"


def record(tally: FuzzTally, data: bytes, limits: ImageLimits) -> str:
    try:
        outcome = decode_outcome(data, limits)
    except Exception:
        tally.add("decoder-crash", "crash")
        raise
    tally.add(f"decoder-{outcome}")
    return outcome


def test_any_bytes(tally: FuzzTally) -> None:
    @fuzz_settings(1500)
    @given(data=st.binary(max_size=2048) | st.binary(max_size=64).map(lambda tail: SOI + tail))
    def run(data: bytes) -> None:
        record(tally, data, DEFAULT)

    run()


def test_near_valid_structure(tally: FuzzTally) -> None:
    @fuzz_settings(1200)
    @given(data=structured_jpegs(), limits=limits_strategy())
    def run(data: bytes, limits: ImageLimits) -> None:
        record(tally, data, limits)

    run()


def test_mutated_real_jpegs(tally: FuzzTally) -> None:
    @fuzz_settings(1200)
    @given(data=mutated_jpegs(), limits=limits_strategy())
    def run(data: bytes, limits: ImageLimits) -> None:
        outcome = record(tally, data, limits)
        if outcome != "FrameTooLargeError":
            # The cheap check and the full decode agree on what is too large.
            try:
                check_frame(data, limits)
            except FrameTooLargeError as error:
                raise AssertionError("check_frame refused as too large what decode_jpeg did not") from error
            except BadImageError:
                pass

    run()


@contextmanager
def decoder_spy() -> Iterator[mock.Mock]:
    """Replace the decoder `imaging` calls with a recording pass-through."""
    spy = mock.Mock(side_effect=cv2.imdecode)
    with mock.patch.object(imaging, "cv2", SimpleNamespace(imdecode=spy, IMREAD_COLOR=cv2.IMREAD_COLOR)):
        yield spy


@st.composite
def oversize_headers(draw: st.DrawFn) -> tuple[bytes, int, int]:
    """A JPEG whose frame header declares more pixels or a longer side than the defaults allow."""
    side = st.integers(1, 0xFFFF)
    width, height = draw(side), draw(side)
    too_big = width > DEFAULT.max_side or height > DEFAULT.max_side or width * height > DEFAULT.max_pixels
    if not too_big:
        width = draw(st.integers(DEFAULT.max_side + 1, 0xFFFF))
    prefix = b"".join(
        segment(draw(st.sampled_from((0xE0, 0xE1, 0xFE, 0xDB, 0xC4, 0xDD))), draw(st.binary(max_size=30)))
        for _ in range(draw(st.integers(0, 3)))
    )
    marker = draw(st.sampled_from((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCF)))
    body = draw(st.sampled_from(real_jpegs()))  # real tables and scan after the lying header
    data = SOI + prefix + sof_segment(marker, 8, width, height, 3) + body[2:]
    return data, width, height


def test_oversize_headers_are_refused_before_decoding(tally: FuzzTally) -> None:
    @fuzz_settings(400)
    @given(case=oversize_headers())
    def run(case: tuple[bytes, int, int]) -> None:
        data, width, height = case
        with decoder_spy() as spy:
            try:
                decode_jpeg(data, DEFAULT)
            except FrameTooLargeError as error:
                assert f"{width}x{height}" in str(error)
            else:
                raise AssertionError(f"a {width}x{height} header was decoded")
            finally:
                tally.add("decoder-oversize-header", "crash" if spy.called else None)
            assert not spy.called, f"the decoder ran on a {width}x{height} header"

    run()


def test_a_60000x60000_header_costs_no_decode() -> None:
    """The brief's example, spelled out: the real tables of a JPEG behind a 60000x60000 SOF."""
    body = real_jpegs()[0]
    sof = body.index(b"\xff\xc0")
    lying = bytearray(body)
    lying[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    with decoder_spy() as spy:
        try:
            decode_jpeg(bytes(lying), DEFAULT)
        except FrameTooLargeError as error:
            assert "60000x60000" in str(error)
        else:
            raise AssertionError("60000x60000 was decoded")
    assert not spy.called


def test_frames_the_services_receive(tally: FuzzTally) -> None:
    """The same mixture the service fuzzers send, straight into the decoder (fast, many)."""

    @fuzz_settings(1000)
    @given(data=frame_bytes())
    def run(data: bytes) -> None:
        record(tally, data, DEFAULT)

    run()


def test_markers_after_soi_never_loop_forever(tally: FuzzTally) -> None:
    """Long runs of markers and fill bytes: the header walk must always advance and stop."""

    @fuzz_settings(300)
    @given(
        markers=st.lists(st.sampled_from(INTERESTING_MARKERS), max_size=300),
        fill=st.integers(0, 4),
        end=st.booleans(),
    )
    def run(markers: list[int], fill: int, end: bool) -> None:
        data = SOI + b"".join(b"\xff" * (fill + 1) + bytes([m]) for m in markers) + (EOI if end else b"")
        record(tally, data, DEFAULT)

    run()
