"""Gallery versions on disk: a set of files plus a manifest, saved atomically.

    <gallery dir>/CURRENT                         the published version's id (one line)
    <gallery dir>/versions/<id>/manifest.json     name, version, created, engine, format,
                                                  parent, model id, people, files + SHA-256
    <gallery dir>/versions/<id>/embeddings.npy    (N, 128) float32, row i = entries[i]
    <gallery dir>/versions/<id>/entries.json      per row: name, source photo, its SHA-256, box

A version directory is self-contained (the manifest names and hashes every other file), so a
versioned model store can hold it unchanged. Saving writes into a hidden temporary directory,
fsyncs, and renames it into place; publishing replaces CURRENT by rename. A crash at any point
leaves either the old state or the new one, never half of a version.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from facerecognition.gallery import (
    CorruptGalleryError,
    Gallery,
    GalleryError,
    IncompatibleGalleryError,
    Source,
)
from facerecognition.model_files import EMBEDDING_SIZE
from liquidedge.package_files import sha256_of

log = logging.getLogger(__name__)

FORMAT = "liquidedge.face-gallery.v1"
ARTEFACT_NAME = "face-gallery"
ENGINE = "facerecognition"
MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.npy"
ENTRIES = "entries.json"
CURRENT = "CURRENT"
_PARTIAL_PREFIX = ".partial-"
# A partial directory older than this is a crashed save's leftover, not a save in progress.
_STALE_PARTIAL_S = 3600.0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _npy_bytes(array: np.ndarray) -> bytes:
    with tempfile.SpooledTemporaryFile() as buffer:
        np.save(buffer, array, allow_pickle=False)
        buffer.seek(0)
        return buffer.read()


def manifest_of(gallery: Gallery, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": ARTEFACT_NAME,
        "version": gallery.version,
        "created": gallery.created,
        "engine": ENGINE,
        "format": FORMAT,
        "parent": gallery.parent,
        "model_id": gallery.model_id,
        "embedding_size": EMBEDDING_SIZE,
        "people": list(gallery.people),
        "count": len(gallery),
        "files": files,
    }


class GalleryStore:
    """The gallery directory: save, publish and load versions."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.versions_dir = self.root / "versions"

    # ---- writing ------------------------------------------------------------------------
    def save(self, gallery: Gallery) -> Path:
        """Write `gallery` as a version directory, atomically; returns its path."""
        final = self.versions_dir / gallery.version
        if final.exists():
            return final
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        self._remove_stale_partials()
        partial = Path(tempfile.mkdtemp(prefix=_PARTIAL_PREFIX, dir=self.versions_dir))
        try:
            entries = [
                {"name": name, "photo": s.photo, "sha256": s.sha256, "box_xyxy": list(s.box_xyxy)}
                for name, s in zip(gallery.names, gallery.sources, strict=True)
            ]
            payloads = {
                EMBEDDINGS: _npy_bytes(gallery.embeddings),
                ENTRIES: json.dumps(entries, indent=1).encode(),
            }
            files: dict[str, dict[str, Any]] = {}
            for name, data in payloads.items():
                _write_durably(partial / name, data)
                files[name] = {"sha256": sha256_of(partial / name), "size": len(data)}
            manifest = json.dumps(manifest_of(gallery, files), indent=1).encode()
            _write_durably(partial / MANIFEST, manifest)
            _fsync_dir(partial)
            os.rename(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        _fsync_dir(self.versions_dir)
        log.info("gallery version %s saved in %s", gallery.version, final, extra={"version": gallery.version})
        return final

    def publish(self, version: str) -> None:
        """Make `version` the current one: CURRENT is replaced by rename, never rewritten."""
        if not (self.versions_dir / version / MANIFEST).is_file():
            raise FileNotFoundError(f"no saved gallery version {version} under {self.versions_dir}")
        fd, tmp = tempfile.mkstemp(prefix=f".{CURRENT}-", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(f"{version}\n".encode())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.root / CURRENT)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.root)
        log.info("gallery version %s published", version, extra={"version": version})

    def save_and_publish(self, gallery: Gallery) -> Path:
        path = self.save(gallery)
        self.publish(gallery.version)
        return path

    def _remove_stale_partials(self) -> None:
        for path in self.versions_dir.glob(_PARTIAL_PREFIX + "*"):
            try:
                if time.time() - path.stat().st_mtime > _STALE_PARTIAL_S:
                    shutil.rmtree(path, ignore_errors=True)
            except FileNotFoundError:
                continue

    # ---- reading ------------------------------------------------------------------------
    def current_version(self) -> str | None:
        try:
            text = (self.root / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return text or None

    def versions(self) -> list[str]:
        """Saved versions, oldest first (partial directories of saves in progress are not versions)."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.versions_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def load(self, version: str, model_id: str) -> Gallery:
        return load_version_dir(self.versions_dir / version, model_id)

    def load_current(self, model_id: str) -> Gallery | None:
        version = self.current_version()
        return None if version is None else self.load(version, model_id)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise CorruptGalleryError(f"gallery {path.name}: no {MANIFEST} in {path}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptGalleryError(f"gallery {path.name}: unreadable {MANIFEST}: {error}") from error
    if not isinstance(manifest, dict):
        raise CorruptGalleryError(f"gallery {path.name}: {MANIFEST} is not a JSON object")
    return manifest


def _check_files(path: Path, manifest: dict[str, Any]) -> None:
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != {EMBEDDINGS, ENTRIES}:
        raise CorruptGalleryError(f"gallery {path.name}: manifest must list {EMBEDDINGS} and {ENTRIES}")
    for name, meta in files.items():
        target = path / name
        if not target.is_file():
            raise CorruptGalleryError(f"gallery {path.name}: {name} is missing")
        if not isinstance(meta, dict) or sha256_of(target) != meta.get("sha256"):
            raise CorruptGalleryError(
                f"gallery {path.name}: {name} does not match its SHA-256 in the manifest"
            )


def load_version_dir(path: Path, model_id: str) -> Gallery:
    """Load and validate one version directory; any defect raises a `GalleryError` subclass."""
    manifest = _read_manifest(path)
    if manifest.get("format") != FORMAT:
        raise IncompatibleGalleryError(
            f"gallery {path.name}: format {manifest.get('format')!r}, this engine reads {FORMAT!r}"
        )
    if manifest.get("model_id") != model_id:
        raise IncompatibleGalleryError(
            f"gallery {path.name}: made with model {manifest.get('model_id')!r}, this engine runs "
            f"{model_id!r} (re-enrol the photos with these model files)"
        )
    if manifest.get("embedding_size") != EMBEDDING_SIZE:
        raise IncompatibleGalleryError(
            f"gallery {path.name}: embedding size {manifest.get('embedding_size')!r}, expected {EMBEDDING_SIZE}"
        )
    if manifest.get("version") != path.name:
        raise CorruptGalleryError(f"gallery {path.name}: manifest names version {manifest.get('version')!r}")
    _check_files(path, manifest)
    try:
        embeddings = np.load(path / EMBEDDINGS, allow_pickle=False)
        entries = json.loads((path / ENTRIES).read_text(encoding="utf-8"))
        sources = tuple(
            Source(e["photo"], e["sha256"], tuple(int(v) for v in e["box_xyxy"])) for e in entries
        )
        names = tuple(str(e["name"]) for e in entries)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CorruptGalleryError(f"gallery {path.name}: unreadable content: {error}") from error
    if embeddings.dtype != np.float32 or embeddings.ndim != 2:
        raise CorruptGalleryError(
            f"gallery {path.name}: embeddings are {embeddings.dtype} {embeddings.shape}"
        )
    if embeddings.shape[1] != EMBEDDING_SIZE:
        raise IncompatibleGalleryError(
            f"gallery {path.name}: embeddings have {embeddings.shape[1]} values, expected {EMBEDDING_SIZE}"
        )
    if len(embeddings) != manifest.get("count"):
        raise CorruptGalleryError(
            f"gallery {path.name}: {len(embeddings)} embeddings, manifest says {manifest.get('count')}"
        )
    try:
        return Gallery(
            version=path.name,
            created=str(manifest.get("created")),
            model_id=model_id,
            names=names,
            embeddings=embeddings,
            sources=sources,
            parent=manifest.get("parent"),
        )
    except GalleryError:
        raise
    except ValueError as error:
        raise CorruptGalleryError(f"gallery {path.name}: {error}") from error
