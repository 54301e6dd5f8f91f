"""Generate the corpus of malformed and unusual image files under tests/fuzz/corpus/.

Run from the repository root: `.venv/bin/python tests/fuzz/make_corpus.py`. The output is
committed, so the suite replays the same bytes on every machine even when a newer libjpeg
would encode the base images differently. Every file is derived from a few tiny synthetic
images with fixed seeds; `manifest.json` says what each file is and what a decoder must do
with it:

  ok         a valid image: decoded, and served with OK
  bad        refused as undecodable (BadImageError / INVALID_ARGUMENT)
  too_large  refused from its header (FrameTooLargeError / RESOURCE_EXHAUSTED)
  any        decoded or refused as bad, whichever libjpeg decides; never anything else

The whole corpus stays well under 1 MB.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CORPUS = Path(__file__).resolve().parent / "corpus"
SOI, EOI = b"\xff\xd8", b"\xff\xd9"
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True)
class Entry:
    name: str
    data: bytes
    expect: str
    why: str


def base_image(width: int = 64, height: int = 48) -> np.ndarray:
    """A gradient with a few shapes: enough structure that the entropy data is not trivial."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), (xx ^ yy) & 0xFF], -1)
    image = image.astype(np.uint8)
    cv2.circle(image, (width // 3, height // 2), min(width, height) // 4, (20, 200, 60), -1)
    cv2.rectangle(image, (width // 2, height // 4), (width - 4, height - 6), (230, 30, 90), 2)
    return image


def jpeg(image: np.ndarray, *params: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80, *params])
    if not ok:
        raise RuntimeError("cv2 could not encode the base JPEG")
    return buffer.tobytes()


def segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, offset of the 0xFF, segment length) for every header segment up to SOS."""
    found = []
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        found.append((marker, i, length))
        if marker == 0xDA:
            break
        i += 2 + length
    return found


def sof_offset(data: bytes) -> int:
    return next(offset for marker, offset, _ in segments(data) if marker in SOF_MARKERS)


def sos_offset(data: bytes) -> int:
    return next(offset for marker, offset, _ in segments(data) if marker == 0xDA)


def with_sof(data: bytes, *, marker: int | None = None, precision: int | None = None, size=None) -> bytes:
    """A copy of `data` whose frame header says something else (marker, precision or size)."""
    out = bytearray(data)
    at = sof_offset(data)
    if marker is not None:
        out[at + 1] = marker
    if precision is not None:
        out[at + 4] = precision
    if size is not None:
        width, height = size
        out[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(out)


def flip_bit(data: bytes, bit_index: int) -> bytes:
    out = bytearray(data)
    out[bit_index // 8] ^= 1 << (bit_index % 8)
    return bytes(out)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def pil_bytes(mode: str, fmt: str, **save: object) -> bytes:
    from PIL import Image  # scikit-image (dev extra) brings Pillow; only this generator needs it

    image = Image.fromarray(base_image(32, 24)[:, :, ::-1]).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def valid_files(base: bytes) -> list[Entry]:
    image = base_image()
    return [
        Entry("valid_baseline.jpg", base, "ok", "baseline 4:2:0 JPEG, 64x48"),
        Entry("valid_progressive.jpg", jpeg(image, cv2.IMWRITE_JPEG_PROGRESSIVE, 1), "ok", "progressive"),
        Entry("valid_optimized.jpg", jpeg(image, cv2.IMWRITE_JPEG_OPTIMIZE, 1), "ok", "optimised Huffman"),
        Entry(
            "valid_444.jpg",
            jpeg(image, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
            "ok",
            "4:4:4 chroma",
        ),
        Entry(
            "valid_restart_markers.jpg",
            jpeg(image, cv2.IMWRITE_JPEG_RST_INTERVAL, 1),
            "ok",
            "restart marker after every MCU",
        ),
        Entry("valid_grayscale.jpg", jpeg(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)), "ok", "one component"),
        Entry("valid_cmyk.jpg", pil_bytes("CMYK", "JPEG", quality=80), "ok", "four components (CMYK, Adobe)"),
        Entry("valid_1x1.jpg", jpeg(np.zeros((1, 1, 3), np.uint8)), "ok", "smallest image"),
        Entry("valid_1x300.jpg", jpeg(np.full((300, 1, 3), 77, np.uint8)), "ok", "one pixel wide"),
        Entry("valid_trailing_garbage.jpg", base + b"\x00garbage" * 16, "ok", "bytes after EOI"),
        Entry(
            "valid_app_segments.jpg",
            base[:2] + segment(0xE1, b"Exif\x00\x00" + bytes(200)) + segment(0xFE, b"comment") + base[2:],
            "ok",
            "extra APP1 and COM segments",
        ),
        Entry(
            "valid_fill_bytes.jpg",
            base[:2] + b"\xff" * 64 + base[2:],
            "any",
            "64 0xFF fill bytes before the first marker",
        ),
    ]


def truncations(base: bytes, progressive: bytes) -> list[Entry]:
    entries = []
    sof, sos = sof_offset(base), sos_offset(base)
    cuts = sorted(
        {1, 2, 3, 4, 6, 11, 20, sof + 1, sof + 5, sof + 9, sos + 3, sos + 20}
        | {len(base) * k // 8 for k in range(1, 8)}
        | {len(base) - 2, len(base) - 1}
    )
    for cut in cuts:
        entries.append(Entry(f"truncated_at_{cut:05d}.jpg", base[:cut], "bad", f"first {cut} bytes"))
    for k in (1, 2, 3):
        cut = len(progressive) * k // 4
        entries.append(
            Entry(f"progressive_truncated_{k}q.jpg", progressive[:cut], "bad", f"progressive, first {cut} B")
        )
        entries.append(
            Entry(
                f"progressive_truncated_{k}q_eoi.jpg",
                progressive[:cut] + EOI,
                "any",
                "progressive cut short, then EOI appended",
            )
        )
    for k in (1, 2, 3):
        cut = sos + 20 + (len(base) - sos) * k // 4
        entries.append(
            Entry(f"baseline_cut_{k}q_eoi.jpg", base[:cut] + EOI, "any", "scan cut short, then EOI appended")
        )
    return entries


def mutations(base: bytes) -> list[Entry]:
    entries = []
    sof, sos = sof_offset(base), sos_offset(base)
    for bit in (17, 100, 8 * sof + 20, 8 * sof + 41, 8 * (sos + 5), 8 * (sos + 30), 8 * (len(base) - 40)):
        entries.append(Entry(f"bitflip_{bit:06d}.jpg", flip_bit(base, bit), "any", f"bit {bit} flipped"))
    rng = np.random.default_rng(5)
    for n in range(4):
        noisy = bytearray(base)
        for at in rng.integers(2, len(base) - 2, 12):
            noisy[at] = int(rng.integers(0, 256))
        entries.append(
            Entry(f"random_bytes_overwritten_{n}.jpg", bytes(noisy), "any", "12 bytes overwritten")
        )
    for name, marker, why in (
        ("sof1_extended.jpg", 0xC1, "extended sequential marker (Huffman data)"),
        ("sof3_lossless.jpg", 0xC3, "lossless marker on DCT data"),
        ("sof9_arithmetic.jpg", 0xC9, "arithmetic-coded marker on Huffman data"),
        ("sof10_arith_progressive.jpg", 0xCA, "arithmetic progressive marker"),
        ("sof15_arith_lossless.jpg", 0xCF, "arithmetic lossless marker"),
    ):
        entries.append(Entry(name, with_sof(base, marker=marker), "any", why))
    for bits in (12, 16, 0, 255):
        entries.append(
            Entry(
                f"precision_{bits}bit.jpg",
                with_sof(base, precision=bits),
                "any",
                f"{bits}-bit sample precision",
            )
        )
    dht = next(offset for marker, offset, _ in segments(base) if marker == 0xC4)
    no_dht = bytearray(base)
    no_dht[dht + 1] = 0xE5  # the Huffman tables become an APP5 segment: the scan has no tables
    entries.append(Entry("no_huffman_tables.jpg", bytes(no_dht), "any", "DHT turned into APP5"))
    entries.append(Entry("sos_removed.jpg", base[:sos] + base[sos + 2 :], "bad", "SOS marker bytes removed"))
    entries.append(Entry("sos_before_sof.jpg", SOI + base[sos:], "bad", "scan data before any frame header"))
    entries.append(Entry("nested_soi.jpg", SOI + base, "any", "SOI twice"))
    entries.append(Entry("soi_inside_header.jpg", base[:sof] + SOI + base[sof:], "any", "SOI before SOF"))
    entries.append(
        Entry("eoi_in_header.jpg", base[:sof] + EOI + base[sof:], "bad", "EOI before any frame header")
    )
    entries.append(Entry("double_image.jpg", base + base, "ok", "two JPEGs back to back"))
    return entries


def header_lies(base: bytes, progressive: bytes) -> list[Entry]:
    entries = []
    for width, height in ((60000, 60000), (65535, 65535), (65535, 1), (1, 65535), (8193, 2), (4097, 4097)):
        entries.append(
            Entry(
                f"declares_{width}x{height}.jpg",
                with_sof(base, size=(width, height)),
                "too_large",
                "huge SOF",
            )
        )
    entries.append(
        Entry(
            "progressive_declares_60000x60000.jpg",
            with_sof(progressive, size=(60000, 60000)),
            "too_large",
            "huge progressive SOF",
        )
    )
    for width, height in ((0, 0), (0, 48), (64, 0)):
        entries.append(
            Entry(f"declares_{width}x{height}.jpg", with_sof(base, size=(width, height)), "bad", "empty")
        )
    for width, height in ((128, 96), (32, 24), (64, 47)):
        entries.append(
            Entry(
                f"declares_{width}x{height}_is_64x48.jpg",
                with_sof(base, size=(width, height)),
                "any",
                "wrong size",
            )
        )
    sof = sof_offset(base)
    for length, why in ((0, "segment length 0"), (1, "segment length 1"), (0xFFFF, "length past the end")):
        out = bytearray(base)
        out[sof + 2 : sof + 4] = struct.pack(">H", length)
        entries.append(Entry(f"sof_length_{length}.jpg", bytes(out), "bad", why))
    many = SOI + segment(0xE0, b"JFIF\x00") * 1 + segment(0xFE, b"x") * 4000 + base[2:]
    entries.append(Entry("four_thousand_comments.jpg", many, "ok", "4000 tiny COM segments before SOF"))
    huge_components = bytearray(with_sof(base))
    huge_components[sof + 9] = 255  # component count, without the bytes to describe them
    entries.append(Entry("sof_255_components.jpg", bytes(huge_components), "any", "component count 255"))
    return entries


def tiny_files() -> list[Entry]:
    png = cv2.imencode(".png", base_image(16, 12))[1].tobytes()
    png16 = cv2.imencode(".png", np.full((12, 16), 40000, np.uint16))[1].tobytes()
    bmp = cv2.imencode(".bmp", base_image(8, 6))[1].tobytes()
    webp = cv2.imencode(".webp", base_image(16, 12))[1].tobytes()
    tiff = cv2.imencode(".tiff", base_image(8, 6))[1].tobytes()
    gif = pil_bytes("P", "GIF")
    return [
        Entry("empty.jpg", b"", "bad", "zero bytes"),
        Entry("soi_only.jpg", SOI, "bad", "start of image and nothing else"),
        Entry("eoi_only.jpg", EOI, "bad", "end of image and nothing else"),
        Entry("soi_eoi.jpg", SOI + EOI, "bad", "an image with no header"),
        Entry("ff_run.jpg", SOI + b"\xff" * 5000, "bad", "SOI then 5000 fill bytes"),
        Entry("zeros.jpg", bytes(4096), "bad", "4 KiB of zeros"),
        Entry("text.jpg", b"GET / HTTP/1.1\r\nHost: robot\r\n\r\n", "bad", "an HTTP request"),
        Entry("image.png", png, "bad", "PNG"),
        Entry("image16.png", png16, "bad", "16-bit grayscale PNG"),
        Entry("png_header_only.png", png[:33], "bad", "PNG signature and IHDR"),
        Entry("image.gif", gif, "bad", "GIF"),
        Entry("image.bmp", bmp, "bad", "BMP"),
        Entry("image.webp", webp, "bad", "WebP"),
        Entry("image.tiff", tiff, "bad", "TIFF"),
        Entry("png_declaring_jpeg.jpg", SOI + png, "bad", "SOI glued to a PNG"),
    ]


def build() -> list[Entry]:
    image = base_image()
    base = jpeg(image)
    progressive = jpeg(image, cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    parts: list[Callable[[], list[Entry]]] = [
        lambda: valid_files(base),
        lambda: truncations(base, progressive),
        lambda: mutations(base),
        lambda: header_lies(base, progressive),
        tiny_files,
    ]
    entries = [entry for part in parts for entry in part()]
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise RuntimeError("duplicate corpus file names")
    return entries


def write(entries: list[Entry], dest: Path) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.iterdir():
        stale.unlink()
    manifest = {}
    for entry in entries:
        (dest / entry.name).write_bytes(entry.data)
        manifest[entry.name] = {"expect": entry.expect, "why": entry.why}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return sum(len(entry.data) for entry in entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=CORPUS)
    args = parser.parse_args()
    entries = build()
    total = write(entries, args.dest)
    print(f"wrote {len(entries)} files, {total} bytes, to {args.dest}")


if __name__ == "__main__":
    main()
