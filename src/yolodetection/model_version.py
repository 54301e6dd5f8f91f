"""A model version on disk: a directory of files plus `manifest.json` with their SHA-256s.

Converted and quantised networks are written this way so a model store can publish the
directory unchanged and a loader can check every file before trusting it. The manifest says
what the files are (format, precision, output layout, input size) and where they came from
(the SHA-256s of the Darknet cfg and weights they were made from).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liquidedge.package_files import sha256_of

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "liquidedge-model/1"


class ManifestError(ValueError):
    """A version directory whose files do not match its manifest (partial copy, tampering)."""


@dataclass(frozen=True)
class ModelVersion:
    """A checked version directory. `model` is the network file a runtime loads."""

    path: Path
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def precision(self) -> str:
        return str(self.manifest["precision"])

    @property
    def model(self) -> Path:
        return self.path / self.manifest["model"]

    @property
    def names(self) -> Path:
        return self.path / self.manifest["names"]

    @property
    def input_wh(self) -> tuple[int, int]:
        width, height = self.manifest["input_wh"]
        return int(width), int(height)

    @property
    def layout(self) -> str:
        return str(self.manifest["layout"])


@dataclass
class VersionWriter:
    """Build a version in a temporary sibling directory, then move it into place in one step.

    A reader never sees a half-written version: either the directory with its manifest is
    there, or nothing is. Two writers racing for the same version both succeed; one wins.
    """

    root: Path
    version: str
    tmp: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.version}.", dir=self.root))

    def file(self, name: str) -> Path:
        return self.tmp / name

    def commit(self, manifest: dict[str, Any]) -> ModelVersion:
        files = sorted(p.name for p in self.tmp.iterdir() if p.is_file())
        document = {
            "format": MANIFEST_FORMAT,
            "version": self.version,
            **manifest,
            "files": {
                name: {"sha256": sha256_of(self.tmp / name), "bytes": (self.tmp / name).stat().st_size}
                for name in files
            },
        }
        (self.tmp / MANIFEST).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", "utf-8")
        target = self.root / self.version
        try:
            os.replace(self.tmp, target)
        except OSError:  # another writer got there first; theirs is as good as ours
            shutil.rmtree(self.tmp, ignore_errors=True)
        return load_version(target)

    def abandon(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def load_version(path: str | os.PathLike[str], *, verify: bool = True) -> ModelVersion:
    """Read a version directory's manifest and (by default) check every file's SHA-256."""
    root = Path(path)
    manifest_path = root / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise ManifestError(f"{manifest_path}: no readable manifest ({error})") from error
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{manifest_path}: format {manifest.get('format')!r}, expected {MANIFEST_FORMAT}")
    if verify:
        for name, entry in manifest.get("files", {}).items():
            file = root / name
            if not file.is_file():
                raise ManifestError(f"{root}: {name} is listed in the manifest but missing")
            actual = sha256_of(file)
            if actual != entry["sha256"]:
                raise ManifestError(
                    f"{root}: {name} has SHA-256 {actual}, the manifest says {entry['sha256']}"
                )
    return ModelVersion(root, manifest)
