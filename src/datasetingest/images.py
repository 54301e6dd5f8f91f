"""Image checks by content, never by file name: JPEG or PNG, size from the header, then decode.

The header is read first so a PNG declaring 100000x100000 pixels is refused before a pixel
buffer is allocated; then the image is decoded once, so a truncated or corrupt file never
reaches the dataset.
"""

from __future__ import annotations

import cv2
import numpy as np

from datasetingest.errors import BadContent, TooLarge
from liquidedge.errors import BadImageError
from liquidedge.imaging import PNG_SIGNATURE, read_jpeg_size, read_png_size


def image_type(data: bytes) -> str | None:
    """'jpg' or 'png' from the first bytes, None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(PNG_SIGNATURE):
        return "png"
    return None


def _png_size(data: bytes, where: str) -> tuple[int, int]:
    try:
        return read_png_size(data)
    except BadImageError as error:
        raise BadContent(f"{where}: corrupt PNG (no IHDR header)") from error


def check_image(data: bytes, where: str, *, max_pixels: int) -> tuple[str, int, int]:
    """(extension, width, height) of a JPEG/PNG that decodes; BadContent/TooLarge otherwise."""
    kind = image_type(data)
    if kind is None:
        start = data[:8].hex(" ") if data else "nothing (empty file)"
        raise BadContent(f"{where} is not a JPEG or PNG image (it starts with {start})")
    if kind == "jpg":
        try:
            width, height = read_jpeg_size(data)
        except BadImageError as error:
            raise BadContent(f"{where}: {error}") from None
    else:
        width, height = _png_size(data, where)
    if width * height == 0 or width * height > max_pixels:
        raise TooLarge(f"{where} is {width}x{height} pixels; the limit is {max_pixels} pixels per image")
    if kind == "jpg" and data.rfind(b"\xff\xd9", max(0, len(data) - 4096)) < 0:
        raise BadContent(f"{where} is a truncated JPEG (no end-of-image marker)")
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None or decoded.shape[:2] != (height, width):
        raise BadContent(f"{where} cannot be decoded as a {kind.upper()} image (truncated or corrupt)")
    return kind, width, height
