"""JPEG decoding with limits checked before any pixel buffer is allocated.

A robot or a hostile client can send anything. The frame's size in bytes is checked first,
then its JPEG header is parsed (a few hundred bytes) to learn width and height, and only
when both are within limits is the image decoded. A 10000x10000 frame is refused without
allocating 300 MB.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from liquidedge.errors import BadImageError, FrameTooLargeError

# Start-of-frame markers carry the image size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
_OTHER_FORMATS = (
    (b"\x89PNG", "PNG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


@dataclass(frozen=True)
class ImageLimits:
    """Bounds on what a service will decode. Defaults suit 1080p cameras with headroom."""

    max_bytes: int = 8 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    max_side: int = 8192


@dataclass(frozen=True)
class DecodedFrame:
    image_bgr: np.ndarray
    decode_ms: float

    @property
    def width(self) -> int:
        return int(self.image_bgr.shape[1])

    @property
    def height(self) -> int:
        return int(self.image_bgr.shape[0])


def _describe_format(data: bytes) -> str:
    for magic, name in _OTHER_FORMATS:
        if data.startswith(magic):
            return f"frame is a {name} image; only JPEG is accepted"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "frame is a WebP image; only JPEG is accepted"
    return "frame is not a JPEG (no start-of-image marker)"


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG (the bytes after `PNG_SIGNATURE`) from its IHDR chunk, without
    decoding. Raises BadImageError when the first chunk is not IHDR."""
    # The first chunk must be IHDR: length (4), type (4), width (4), height (4).
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise BadImageError("a PNG without its IHDR header")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def read_jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from the JPEG frame header, without decoding. Raises BadImageError."""
    if not data:
        raise BadImageError("frame is empty; send JPEG bytes")
    if data[:2] != b"\xff\xd8":
        raise BadImageError(_describe_format(data))
    end = len(data)
    i = 2
    while i < end:
        if data[i] != 0xFF:
            raise BadImageError(f"corrupt JPEG: expected a marker at byte {i}")
        while i < end and data[i] == 0xFF:
            i += 1
        if i >= end:
            break
        marker = data[i]
        i += 1
        if marker in _STANDALONE_MARKERS:
            continue
        if marker == 0xD9:
            raise BadImageError("corrupt JPEG: end of image before any frame header")
        if marker == 0xDA:
            raise BadImageError("corrupt JPEG: scan data before any frame header")
        if i + 2 > end:
            break
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2 or i + length > end:
            break
        if marker in _SOF_MARKERS:
            if length < 8:
                raise BadImageError("corrupt JPEG: frame header too short")
            height = int.from_bytes(data[i + 3 : i + 5], "big")
            width = int.from_bytes(data[i + 5 : i + 7], "big")
            if width == 0 or height == 0:
                raise BadImageError(f"JPEG declares an empty image ({width}x{height})")
            return width, height
        i += length
    raise BadImageError("truncated JPEG: the data ends inside its header")


def check_frame(data: bytes, limits: ImageLimits) -> tuple[int, int]:
    """Validate size, header and completeness; return (width, height). Cheap: no decode."""
    if len(data) > limits.max_bytes:
        raise FrameTooLargeError(f"frame is {len(data)} bytes, over the limit of {limits.max_bytes} bytes")
    width, height = read_jpeg_size(data)
    if width > limits.max_side or height > limits.max_side or width * height > limits.max_pixels:
        raise FrameTooLargeError(
            f"frame is {width}x{height} pixels, over the limit of {limits.max_pixels} pixels "
            f"(and at most {limits.max_side} per side)"
        )
    # A complete JPEG ends with EOI; cameras sometimes pad after it, so look near the end.
    if data.rfind(b"\xff\xd9", max(0, len(data) - 4096)) < 0:
        raise BadImageError("truncated JPEG: no end-of-image marker")
    return width, height


def decode_jpeg(data: bytes, limits: ImageLimits) -> DecodedFrame:
    """Check the frame against `limits`, then decode it to a BGR array."""
    width, height = check_frame(data, limits)
    start = time.perf_counter()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    decode_ms = (time.perf_counter() - start) * 1000.0
    if image is None:
        raise BadImageError("JPEG could not be decoded (corrupt entropy-coded data)")
    if image.shape[:2] != (height, width):
        raise BadImageError(
            f"JPEG header says {width}x{height} but decodes to {image.shape[1]}x{image.shape[0]}"
        )
    return DecodedFrame(image_bgr=image, decode_ms=decode_ms)


def encode_jpeg(image_bgr: np.ndarray, quality: int = 85) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


def center_patches(
    xyxy: np.ndarray, width: int, height: int, patch_fraction: float = 0.2
) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of the patch around each box centre, inside the image.

    The robot's tracker uses the patch's colour to tell two people apart, so the patch is a
    fraction of the box (clothing or face, not background) and never smaller than one pixel.
    """
    patches = []
    for x1, y1, x2, y2 in np.asarray(xyxy, np.float64).reshape(-1, 4):
        cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        half_w = max(0.5, (x2 - x1) * patch_fraction / 2.0)
        half_h = max(0.5, (y2 - y1) * patch_fraction / 2.0)
        left = int(np.clip(np.floor(cx - half_w), 0, width - 1))
        right = int(np.clip(np.ceil(cx + half_w), left + 1, width))
        top = int(np.clip(np.floor(cy - half_h), 0, height - 1))
        bottom = int(np.clip(np.ceil(cy + half_h), top + 1, height))
        patches.append((top, bottom, left, right))
    return patches


def center_colors(image_bgr: np.ndarray, xyxy: np.ndarray, patch_fraction: float = 0.2) -> np.ndarray:
    """Mean RGB colour of a patch around each box centre (see `center_patches`)."""
    height, width = image_bgr.shape[:2]
    colors = np.zeros((len(xyxy), 3), np.uint8)
    for i, (top, bottom, left, right) in enumerate(center_patches(xyxy, width, height, patch_fraction)):
        mean_bgr = image_bgr[top:bottom, left:right].reshape(-1, 3).mean(axis=0)
        colors[i] = np.round(mean_bgr[::-1]).astype(np.uint8)
    return colors
