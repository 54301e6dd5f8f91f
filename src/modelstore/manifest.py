"""The manifest: what a version is, written last so its presence means "complete".

A version is a set of files plus this JSON document: name, version, kind (model or
dataset), the engine and format it is for, every file with its SHA-256 and size, training
metrics where there are any, and the parent version it was derived from. Readers trust a
version only through its manifest, and a fetched file only when its hash matches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from liquidedge.package_files import sha256_file as sha256_file  # re-exported for the store's callers
from modelstore.errors import ManifestError
from modelstore.names import check_kind, check_name, check_relative_path, check_version

SCHEMA = 1
_SHA256_HEX = frozenset("0123456789abcdef")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int

    def __post_init__(self) -> None:
        check_relative_path(self.path)
        if len(self.sha256) != 64 or not set(self.sha256) <= _SHA256_HEX:
            raise ValueError(f"file {self.path!r}: sha256 must be 64 lower-case hex digits")
        if not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"file {self.path!r}: size must be a non-negative integer")


def _check_json_values(where: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics and metadata must round-trip through JSON (no NaN: JSON has none)."""
    try:
        text = json.dumps(dict(values), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where} must be JSON values without NaN/inf: {error}") from error
    return json.loads(text)


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    kind: str
    engine: str
    format: str
    created: str
    files: tuple[FileEntry, ...]
    parent: str | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name)
        check_version(self.version)
        check_kind(self.kind)
        if self.parent is not None:
            check_version(self.parent)
        for what in ("engine", "format", "created"):
            value = getattr(self, what)
            if not isinstance(value, str) or not value:
                raise ValueError(f"manifest {what} must be a non-empty string")
        if not self.files:
            raise ValueError("a version has at least one file")
        paths = [entry.path for entry in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("manifest lists a file path twice")
        object.__setattr__(self, "files", tuple(sorted(self.files, key=lambda e: e.path)))
        object.__setattr__(self, "metrics", _check_json_values("metrics", self.metrics))
        object.__setattr__(self, "meta", _check_json_values("meta", self.meta))

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)

    def file(self, path: str) -> FileEntry:
        for entry in self.files:
            if entry.path == path:
                return entry
        raise KeyError(f"{self.name} {self.version} has no file {path!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "engine": self.engine,
            "format": self.format,
            "created": self.created,
            "parent": self.parent,
            "files": [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in self.files],
            "metrics": dict(self.metrics),
            "meta": dict(self.meta),
        }

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, *, where: str = "manifest") -> Manifest:
        """Parse and validate; any defect is a ManifestError naming `where`."""
        try:
            raw = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            if raw.get("schema") != SCHEMA:
                raise ValueError(f"schema {raw.get('schema')!r} is not {SCHEMA}")
            files = tuple(FileEntry(path=f["path"], sha256=f["sha256"], size=f["size"]) for f in raw["files"])
            return cls(
                name=raw["name"],
                version=raw["version"],
                kind=raw["kind"],
                engine=raw["engine"],
                format=raw["format"],
                created=raw["created"],
                files=files,
                parent=raw.get("parent"),
                metrics=raw.get("metrics") or {},
                meta=raw.get("meta") or {},
            )
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            raise ManifestError(f"{where} is not a valid manifest: {error}") from error


def _refuse_constant(token: str) -> float:
    raise ValueError(f"{token} is not allowed in a manifest")
