"""A zip of labelled images (one folder per label), checked before anything is extracted.

Everything that can be judged from the archive's directory is judged first, from the
declared sizes: entry count (from the end-of-central-directory record, before Python builds
its entry list), paths (`..`, absolute, backslashes), symbolic links and other special
files, encrypted entries, each image's size, the uncompressed total and compression ratios
(zip bombs), label names, files outside a label folder, empty labels, a single label. Only
then is each image read, with a reader that stops at the declared size, checked by content
(JPEG/PNG that decodes) and written into a fresh archive under a normalised name. The
upload itself is never extracted to disk.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from datasetingest.errors import BadContent, BadRequest, TooLarge
from datasetingest.images import check_image

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIGNATURE = b"PK\x05\x06"
_JUNK = ("__MACOSX",)


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int = 10_000
    max_image_bytes: int = 16 * 1024 * 1024
    max_total_bytes: int = 1024 * 1024 * 1024
    max_ratio: float = 50.0
    max_pixels: int = 4096 * 4096
    min_images_per_label: int = 5

    def __post_init__(self) -> None:
        for name in (
            "max_entries",
            "max_image_bytes",
            "max_total_bytes",
            "max_pixels",
            "min_images_per_label",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_ratio < 1:
            raise ValueError(f"max_ratio must be at least 1, got {self.max_ratio}")


@dataclass
class Plan:
    """What the archive holds once its directory passed: images by label, junk skipped."""

    members: dict[str, list[zipfile.ZipInfo]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {label: len(infos) for label, infos in sorted(self.members.items())}


def count_entries(path: Path) -> int:
    """Entries declared by the end-of-central-directory record (read from the file's tail)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(0, size - (_EOCD.size + 65535)))
        tail = handle.read()
    at = tail.rfind(_EOCD_SIGNATURE)
    if at < 0 or len(tail) - at < _EOCD.size:
        raise BadRequest("the upload is not a zip archive (no end-of-central-directory record)")
    _, _, _, _, entries, _, _, _ = _EOCD.unpack_from(tail, at)
    return entries


def _check_path(name: str) -> list[str]:
    if "\\" in name or "\x00" in name:
        raise BadContent(f"{name!r}: backslashes and NUL are not allowed in paths")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise BadContent(f"{name!r}: absolute paths are not allowed")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BadContent(f"{name!r}: '..' in a path (path traversal) is not allowed")
    return parts


def _check_entry_type(info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise BadContent(f"{info.filename!r} is a symbolic link; only regular files are allowed")
    if mode and stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise BadContent(f"{info.filename!r} is a special file; only regular files are allowed")
    if info.flag_bits & 0x1:
        raise BadContent(f"{info.filename!r} is encrypted; upload an unencrypted zip")


def _check_sizes(infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> None:
    """Declared sizes only: this runs before a single byte is decompressed."""
    total = 0
    for info in infos:
        if info.file_size > limits.max_image_bytes:
            raise TooLarge(
                f"{info.filename!r} is {info.file_size} bytes uncompressed; the limit is "
                f"{limits.max_image_bytes} bytes per image"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 4096 and ratio > limits.max_ratio:
            raise TooLarge(
                f"{info.filename!r} expands {ratio:.0f}:1 (over {limits.max_ratio:.0f}:1): refused as a zip bomb"
            )
        total += info.file_size
    if total > limits.max_total_bytes:
        raise TooLarge(
            f"the archive expands to {total} bytes; the limit is {limits.max_total_bytes} bytes uncompressed"
        )


def _strip_common_root(entries: list[tuple[zipfile.ZipInfo, list[str]]]) -> None:
    """`data/cat/1.jpg`, `data/dog/2.jpg`: a zipped folder of label folders; drop `data/`."""
    files = [parts for info, parts in entries if not info.is_dir()]
    roots = {parts[0] for _, parts in entries if parts}
    if len(roots) == 1 and files and all(len(parts) >= 3 for parts in files):
        for _, parts in entries:
            del parts[0]


def plan_archive(zip_file: zipfile.ZipFile, limits: ArchiveLimits) -> Plan:
    """Check the archive's directory; return the images to read, by label."""
    plan = Plan()
    entries = []
    for info in zip_file.infolist():
        parts = _check_path(info.filename)
        if any(p.startswith(".") or p in _JUNK for p in parts):
            plan.skipped.append(info.filename)
            continue
        _check_entry_type(info)
        entries.append((info, parts))
    _check_sizes([info for info, _ in entries if not info.is_dir()], limits)
    _strip_common_root(entries)
    for info, parts in entries:
        if not parts:
            continue
        label = parts[0]
        if not _LABEL.match(label) or ".." in label:
            raise BadContent(
                f"label folder {label!r} is not a valid label: use letters, digits, '.', '_' or '-' "
                "(starting with a letter or digit, at most 64 characters)"
            )
        images = plan.members.setdefault(label, [])
        if info.is_dir():
            if len(parts) > 1:
                raise BadContent(f"{info.filename!r}: images must sit directly in their label folder")
            continue
        if len(parts) == 1:
            raise BadContent(f"{info.filename!r} is not inside a label folder (one folder per label)")
        if len(parts) > 2:
            raise BadContent(f"{info.filename!r}: images must sit directly in their label folder")
        images.append(info)
    _check_labels(plan, limits)
    return plan


def _check_labels(plan: Plan, limits: ArchiveLimits) -> None:
    counts = plan.counts
    for label, count in counts.items():
        if count == 0:
            raise BadContent(f"label {label!r} has no images")
        if count < limits.min_images_per_label:
            raise BadContent(
                f"label {label!r} has {count} images; at least {limits.min_images_per_label} are needed "
                "(some are held out to measure accuracy)"
            )
    if len(counts) < 2:
        only = f"only one label ({next(iter(counts))!r})" if counts else "no labelled images"
        raise BadContent(f"the archive has {only}: a classifier needs at least two labels")
    lower = Counter(label.lower() for label in counts)
    clashes = sorted(label for label in counts if lower[label.lower()] > 1)
    if clashes:
        raise BadContent(f"labels {clashes} differ only in case; use one spelling")


def _read_member(zip_file: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, never more than it declared (zipfile also checks the CRC)."""
    with zip_file.open(info) as member:
        data = member.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise BadContent(f"{info.filename!r} holds {len(data)} bytes but declares {info.file_size}")
    return data


def open_archive(path: Path, limits: ArchiveLimits) -> zipfile.ZipFile:
    """Open an uploaded zip after checking its entry count from the raw directory record."""
    entries = count_entries(path)
    if entries > limits.max_entries:
        raise TooLarge(f"the archive has {entries} entries; the limit is {limits.max_entries}")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise BadRequest(f"the upload is not a readable zip archive: {error}") from None


def repack(source: Path, dest: Path, limits: ArchiveLimits) -> tuple[Plan, dict[str, list[dict]]]:
    """Check `source`, then write its images to `dest` as `<label>/<n>.<jpg|png>`.

    Returns the plan and an index: per label, each image's new name, source name and size.
    """
    index: dict[str, list[dict]] = {}
    with open_archive(source, limits) as zip_in:
        plan = plan_archive(zip_in, limits)
        try:
            with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zip_out:
                for label, infos in sorted(plan.members.items()):
                    for number, info in enumerate(sorted(infos, key=lambda i: i.filename), start=1):
                        data = _read_member(zip_in, info)
                        kind, width, height = check_image(data, info.filename, max_pixels=limits.max_pixels)
                        name = f"{label}/{number:05d}.{kind}"
                        zip_out.writestr(name, data)
                        index.setdefault(label, []).append(
                            {"file": name, "source": info.filename, "width": width, "height": height}
                        )
        except (zipfile.BadZipFile, EOFError, NotImplementedError) as error:
            raise BadRequest(f"the archive is corrupt: {error}") from None
    return plan, index
