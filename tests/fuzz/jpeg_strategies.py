"""Hypothesis strategies for frame bytes: random, near-valid JPEG structure, mutated real JPEGs.

Random bytes alone almost never get past the first two bytes of a JPEG parser, so most of the
weight is on inputs that do: a valid SOI followed by random segments, and small real JPEGs
(baseline, progressive, grayscale, restart markers) with bits flipped, bytes overwritten,
ranges cut or repeated. Real frames are tiny (<= 64x48) so an input that decodes costs the
engines milliseconds, which keeps thousands of inputs inside the CI budget.
"""

from __future__ import annotations

import json
import struct
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from hypothesis import strategies as st

CORPUS = Path(__file__).resolve().parent / "corpus"
SOI, EOI = b"\xff\xd8", b"\xff\xd9"
# Markers a parser must treat specially: frame headers of every coding, DHT/DAC/DQT/DRI,
# restart, SOI/EOI/SOS, APPn, COM, TEM and a reserved one.
INTERESTING_MARKERS = (
    *range(0xC0, 0xD0),
    *range(0xD0, 0xDC),
    0xDD,
    0xE0,
    0xE1,
    0xE2,
    0xEE,
    0xFE,
    0x01,
    0x02,
    0xFF,
    0x00,
)
# Sizes that hit the limits: 0, 1, the side and pixel limits and their neighbours, the maximum.
INTERESTING_SIDES = (0, 1, 2, 48, 64, 4095, 4096, 4097, 8191, 8192, 8193, 60000, 65535)


@cache
def real_jpegs() -> tuple[bytes, ...]:
    """Small valid JPEGs in the codings cameras produce."""
    yy, xx = np.mgrid[0:48, 0:64]
    image = np.stack([xx * 4, yy * 5, (xx * yy) & 0xFF], -1).astype(np.uint8)
    variants = (
        [],
        [cv2.IMWRITE_JPEG_PROGRESSIVE, 1],
        [cv2.IMWRITE_JPEG_RST_INTERVAL, 2],
        [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444],
    )
    encoded = [cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70, *v])[1].tobytes() for v in variants]
    encoded.append(cv2.imencode(".jpg", image[:, :, 0])[1].tobytes())  # grayscale
    encoded.append(cv2.imencode(".jpg", image[:1, :1])[1].tobytes())  # 1x1
    return tuple(encoded)


@cache
def corpus_manifest() -> dict[str, dict[str, str]]:
    return json.loads((CORPUS / "manifest.json").read_text())


@cache
def corpus_files() -> tuple[bytes, ...]:
    return tuple((CORPUS / name).read_bytes() for name in sorted(corpus_manifest()))


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", (len(payload) + 2) & 0xFFFF) + payload


def sof_segment(marker: int, precision: int, width: int, height: int, components: int) -> bytes:
    body = struct.pack(">BHHB", precision, height, width, components)
    body += b"".join(bytes([i + 1, 0x11, 0]) for i in range(min(components, 4)))
    return segment(marker, body)


@st.composite
def structured_jpegs(draw: st.DrawFn) -> bytes:
    """SOI, random segments, maybe a frame header (any size), maybe a scan, maybe EOI."""
    parts = [SOI]
    for _ in range(draw(st.integers(0, 6))):
        marker = draw(st.sampled_from(INTERESTING_MARKERS) | st.integers(0, 255))
        payload = draw(st.binary(max_size=40))
        if draw(st.booleans()):
            parts.append(segment(marker, payload))
        else:  # a length field that lies
            parts.append(bytes([0xFF, marker]) + struct.pack(">H", draw(st.integers(0, 0xFFFF))) + payload)
    if draw(st.booleans()):
        side = st.sampled_from(INTERESTING_SIDES) | st.integers(0, 0xFFFF)
        parts.append(
            sof_segment(
                draw(st.sampled_from((0xC0, 0xC1, 0xC2, 0xC3, 0xC9, 0xCA, 0xCB, 0xCF))),
                draw(st.sampled_from((8, 12, 16)) | st.integers(0, 255)),
                draw(side),
                draw(side),
                draw(st.sampled_from((1, 3, 4)) | st.integers(0, 255)),
            )
        )
    if draw(st.booleans()):
        parts.append(segment(0xDA, draw(st.binary(max_size=12))) + draw(st.binary(max_size=200)))
    if draw(st.booleans()):
        parts.append(EOI)
    return b"".join(parts)


@st.composite
def mutated_jpegs(draw: st.DrawFn) -> bytes:
    """A real small JPEG (or corpus file) with a few random edits."""
    data = bytearray(draw(st.sampled_from(real_jpegs()) | st.sampled_from(corpus_files())))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(("flip", "byte", "cut", "insert", "delete", "repeat", "ff")))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 128))]
        else:
            data[at:at] = b"\xff" * draw(st.integers(1, 8))
    return bytes(data)


def frame_bytes() -> st.SearchStrategy[bytes]:
    """Anything a hostile or broken client could put in a frame, weighted towards near-JPEG."""
    return st.one_of(
        st.binary(max_size=512),
        st.binary(max_size=64).map(lambda tail: SOI + tail),
        structured_jpegs(),
        mutated_jpegs(),
        mutated_jpegs(),
        st.sampled_from(real_jpegs()),
        st.sampled_from(corpus_files()),
    )
