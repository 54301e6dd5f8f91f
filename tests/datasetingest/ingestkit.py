"""The ingest under test (a real server) and archives for it: good ones, hostile ones built by hand."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from datasetingest.service import IngestHandle, build_parser, limits_from, start
from modelstore import ModelStore, open_store


def jpeg(seed: int = 0, side: int = 64) -> bytes:
    rng = np.random.default_rng(seed)
    ok, data = cv2.imencode(".jpg", rng.integers(0, 255, (side, side, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


def png(seed: int = 0, side: int = 32) -> bytes:
    rng = np.random.default_rng(seed)
    ok, data = cv2.imencode(".png", rng.integers(0, 255, (side, side, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


def png_declaring(width: int, height: int) -> bytes:
    """A real PNG whose header claims another size (with a valid header CRC)."""
    data = bytearray(png())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def build_zip(
    entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def labelled(labels: dict[str, int], *, root: str = "") -> list[tuple[str, bytes]]:
    """`count` distinct JPEGs per label folder."""
    return [
        (f"{root}{label}/{i}.jpg", jpeg(seed=hash((label, i)) % 1000))
        for label, count in labels.items()
        for i in range(count)
    ]


def symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o120777 << 16
    return info, target.encode()


def good() -> list[tuple[str, bytes]]:
    return labelled({"cat": 5, "dog": 5})


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def mark_encrypted(archive: bytes, name: str) -> bytes:
    """Set the 'encrypted' flag of `name` in its local and central headers (zipfile cannot write one)."""
    data = bytearray(archive)
    encoded = name.encode()
    for signature, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        at = data.find(signature)
        while at >= 0:
            length = struct.unpack_from("<H", data, at + name_at - (2 if signature == b"PK\x03\x04" else 18))[
                0
            ]
            if bytes(data[at + name_at : at + name_at + length]) == encoded:
                data[at + flag_at] |= 0x1
            at = data.find(signature, at + 4)
    return bytes(data)


@dataclass
class Ingest:
    handle: IngestHandle
    store: ModelStore
    root: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.handle.port}"

    def triggers(self) -> list[Path]:
        return sorted((self.root / "triggers").glob("*.json"))

    def leftovers(self) -> list[str]:
        """Anything an upload left behind: scratch files, staged or published versions."""
        found = [str(p.relative_to(self.root)) for p in (self.root / "work").rglob("*")]
        found += [str(p.relative_to(self.root)) for p in (self.root / "store").rglob("*") if p.is_file()]
        return found


def start_ingest(root: Path, *extra: str) -> Ingest:
    parser = build_parser()
    args = parser.parse_args(
        [
            "--port", "0",
            "--store", str(root / "store"),
            "--trigger-dir", str(root / "triggers"),
            "--work-dir", str(root / "work"),
            "--max-upload-bytes", str(16 * 1024 * 1024),
            "--max-total-bytes", str(4 * 1024 * 1024),
            "--max-entries", "200",
            *extra,
        ]
    )  # fmt: skip
    handle = start(args, limits_from(parser, args))
    return Ingest(handle, open_store(str(root / "store")), root)
