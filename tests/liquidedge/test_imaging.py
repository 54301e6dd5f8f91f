"""JPEG checks happen before decoding, so hostile frames cost nothing and get clear reasons."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from liquidedge.errors import BadImageError, FrameTooLargeError
from liquidedge.imaging import (
    ImageLimits,
    center_colors,
    check_frame,
    decode_jpeg,
    encode_jpeg,
    read_jpeg_size,
)


def jpeg_of(width: int, height: int, color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    return encode_jpeg(np.full((height, width, 3), color, np.uint8))


def fake_header(width: int, height: int) -> bytes:
    """A JPEG whose header declares a size it does not have: the decoder must never be reached."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + b"\x00" * 64 + b"\xff\xd9"


def png_of(width: int, height: int) -> bytes:
    ok, data = cv2.imencode(".png", np.zeros((height, width, 3), np.uint8))
    assert ok
    return data.tobytes()


LIMITS = ImageLimits(max_bytes=200_000, max_pixels=2000 * 2000, max_side=4000)


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", BadImageError, "empty"),  # empty frame
        (bytes(range(256)) * 4, BadImageError, "not a JPEG"),  # random bytes
        (png_of(8, 8), BadImageError, "PNG"),  # a PNG, not a JPEG
        (jpeg_of(64, 48)[:300], BadImageError, "truncated"),  # cut inside the scan data
        (jpeg_of(64, 48)[:12], BadImageError, "truncated"),  # cut inside the header
        (fake_header(10000, 10000), FrameTooLargeError, "10000x10000"),  # pixel bomb, refused before decode
        (fake_header(5000, 10), FrameTooLargeError, "per side"),  # one side over the limit
        (fake_header(0, 10), BadImageError, "empty image"),  # header says zero width
        (b"\xff\xd8" + b"\x00" * 300_000, FrameTooLargeError, "bytes"),  # over the byte limit
        (b"\xff\xd8\xff\xda\x00\x02", BadImageError, "scan data before"),  # scan with no frame header
    ],
)
def test_bad_frames_are_refused_with_a_reason(data: bytes, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        decode_jpeg(data, LIMITS)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (640, 480), (17, 5)])
def test_size_is_read_from_the_header(width: int, height: int) -> None:
    data = jpeg_of(width, height)
    assert read_jpeg_size(data) == (width, height)
    assert check_frame(data, LIMITS) == (width, height)
    frame = decode_jpeg(data, LIMITS)
    assert (frame.width, frame.height) == (width, height)


def test_trailing_padding_after_end_of_image_is_accepted() -> None:
    data = jpeg_of(32, 32) + b"\x00" * 100
    assert decode_jpeg(data, LIMITS).width == 32


def test_corrupt_scan_with_intact_markers_is_invalid_argument_not_a_crash() -> None:
    data = bytearray(jpeg_of(64, 64))
    # Overwrite the first huffman table with garbage; keep SOI/SOF/EOI so the cheap checks pass.
    dht = data.find(b"\xff\xc4")
    data[dht + 4 : dht + 40] = b"\xff" * 36
    try:
        frame = decode_jpeg(bytes(data), LIMITS)
    except BadImageError:
        return
    assert frame.image_bgr.shape == (64, 64, 3)  # libjpeg may recover; then the shape must still be right


def test_center_colors_are_rgb_means_near_the_centre() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[40:60, 40:60] = (255, 0, 0)  # blue in BGR
    colors = center_colors(image, np.array([[0, 0, 100, 100], [0, 0, 10, 10]], np.float32))
    assert colors[0].tolist() == [0, 0, 255]
    assert colors[1].tolist() == [0, 0, 0]


def test_center_color_of_a_box_touching_the_border_stays_inside() -> None:
    image = np.full((10, 10, 3), 7, np.uint8)
    assert center_colors(image, np.array([[9.5, 9.5, 12, 12]], np.float32))[0].tolist() == [7, 7, 7]
