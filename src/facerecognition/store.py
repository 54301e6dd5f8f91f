"""Gallery versions in the model store: published, promoted to a channel, fetched and loaded.

A gallery version is a model store version like any other (the store of `src/modelstore`,
in a directory or an S3 bucket): immutable, published atomically, every file hashed in the
manifest, a parent recorded, a channel (`production`) pointing at the one to serve.

    name      face-gallery (the default; another name for another site's people)
    engine    face-gallery
    format    liquidedge.face-gallery.v1
    files     embeddings.npy   (N, 128) float32, row i = entries[i]
              entries.json     per row: name, source photo, its SHA-256, the face box
    meta      model_id, embedding_size, count, people, created

The store checks every file's SHA-256 when a version is fetched; loading then checks what is
ours (format, model id, embedding size, counts, finite values), so a corrupt or incompatible
gallery is refused with an error that names the version and what is wrong.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
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
from modelstore import ConflictError, LocalVersion, ModelStore, fetch_verified
from modelstore.fetch import DEFAULT_CACHE
from modelstore.store import ANY_VERSION

log = logging.getLogger(__name__)

ARTEFACT_NAME = "face-gallery"
ENGINE = "face-gallery"
FORMAT = "liquidedge.face-gallery.v1"
EMBEDDINGS = "embeddings.npy"
ENTRIES = "entries.json"
DEFAULT_CHANNEL = "production"
# Tries of a change whose channel moved meanwhile (another replica's change won the race).
_CHANGE_ATTEMPTS = 5


@dataclass(frozen=True)
class GalleryPlace:
    """Where a gallery lives: a store, the gallery's name in it, the channel to serve."""

    store: ModelStore
    name: str = ARTEFACT_NAME
    channel: str = DEFAULT_CHANNEL
    cache_dir: Path = Path(DEFAULT_CACHE)

    def current_version(self) -> str | None:
        state = self.store.channel(self.name, self.channel)
        return None if state is None else state.version

    def fetch(self, version: str) -> LocalVersion:
        """The version's files, downloaded into the cache and checked against their SHA-256."""
        return fetch_verified(self.store, self.name, version, self.cache_dir, expect_engine=ENGINE)

    def load(self, version: str, model_id: str) -> Gallery:
        return load_gallery(self.fetch(version), model_id)

    def load_current(self, model_id: str) -> Gallery | None:
        version = self.current_version()
        return None if version is None else self.load(version, model_id)

    def publish(self, gallery: Gallery, *, expect: str | None = ANY_VERSION, note: str = "") -> None:
        """Publish `gallery` and point the channel at it (only if still at `expect`, when given)."""
        publish_gallery(self.store, gallery, self.name)
        self.store.promote(self.name, gallery.version, self.channel, note=note, expect=expect)
        log.info(
            "gallery %s %s published to channel %s: %s",
            self.name,
            gallery.version,
            self.channel,
            ", ".join(gallery.people) or "(nobody)",
            extra={"version": gallery.version, "people": len(gallery.people), "channel": self.channel},
        )

    def change(self, make: Callable[[Gallery | None], Gallery], model_id: str, note: str = "") -> Gallery:
        """Derive a version from the channel's current one with `make`, publish it, move the channel.

        When another writer moved the channel meanwhile, `make` runs again on its version, so
        no change is lost (each replica of the recognition service can take operator changes).
        """
        for _ in range(_CHANGE_ATTEMPTS):
            current = self.current_version()
            parent = None if current is None else self.load(current, model_id)
            gallery = make(parent)
            try:
                self.publish(gallery, expect=current, note=note)
            except ConflictError:
                log.info("gallery channel moved during a change; deriving again", extra={"from": current})
                continue
            return gallery
        raise ConflictError(f"{self.name} channel {self.channel}: changed by others too often; try again")


def publish_gallery(store: ModelStore, gallery: Gallery, name: str = ARTEFACT_NAME) -> None:
    """Publish `gallery` as version `gallery.version` of `name` (the channel is not moved)."""
    entries = [
        {"name": person, "photo": s.photo, "sha256": s.sha256, "box_xyxy": list(s.box_xyxy)}
        for person, s in zip(gallery.names, gallery.sources, strict=True)
    ]
    with tempfile.TemporaryDirectory(prefix="gallery-") as tmp:
        folder = Path(tmp)
        np.save(folder / EMBEDDINGS, gallery.embeddings, allow_pickle=False)
        (folder / ENTRIES).write_text(json.dumps(entries, indent=1), encoding="utf-8")
        store.publish(
            name,
            {EMBEDDINGS: folder / EMBEDDINGS, ENTRIES: folder / ENTRIES},
            engine=ENGINE,
            format=FORMAT,
            version=gallery.version,
            parent=gallery.parent,
            meta={
                "model_id": gallery.model_id,
                "embedding_size": EMBEDDING_SIZE,
                "count": len(gallery),
                "people": list(gallery.people),
                "created": gallery.created,
            },
        )


def _check_manifest(local: LocalVersion, model_id: str) -> dict[str, Any]:
    manifest, version = local.manifest, local.version
    if manifest.format != FORMAT:
        raise IncompatibleGalleryError(
            f"gallery {version}: format {manifest.format!r}, this engine reads {FORMAT!r}"
        )
    meta = dict(manifest.meta)
    if meta.get("model_id") != model_id:
        raise IncompatibleGalleryError(
            f"gallery {version}: made with model {meta.get('model_id')!r}, this engine runs "
            f"{model_id!r} (re-enrol the photos with these model files)"
        )
    if meta.get("embedding_size") != EMBEDDING_SIZE:
        raise IncompatibleGalleryError(
            f"gallery {version}: embedding size {meta.get('embedding_size')!r}, expected {EMBEDDING_SIZE}"
        )
    return meta


def load_gallery(local: LocalVersion, model_id: str) -> Gallery:
    """Load and validate a fetched version; any defect raises a `GalleryError` subclass."""
    meta = _check_manifest(local, model_id)
    version = local.version
    try:
        embeddings = np.load(local.file(EMBEDDINGS), allow_pickle=False)
        entries = json.loads(local.file(ENTRIES).read_text(encoding="utf-8"))
        sources = tuple(
            Source(e["photo"], e["sha256"], tuple(int(v) for v in e["box_xyxy"])) for e in entries
        )
        names = tuple(str(e["name"]) for e in entries)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CorruptGalleryError(f"gallery {version}: unreadable content: {error}") from error
    if embeddings.dtype != np.float32 or embeddings.ndim != 2:
        raise CorruptGalleryError(f"gallery {version}: embeddings are {embeddings.dtype} {embeddings.shape}")
    if embeddings.shape[1] != EMBEDDING_SIZE:
        raise IncompatibleGalleryError(
            f"gallery {version}: embeddings have {embeddings.shape[1]} values, expected {EMBEDDING_SIZE}"
        )
    if len(embeddings) != meta.get("count"):
        raise CorruptGalleryError(
            f"gallery {version}: {len(embeddings)} embeddings, manifest says {meta.get('count')}"
        )
    try:
        return Gallery(
            version=version,
            created=str(meta.get("created", local.manifest.created)),
            model_id=model_id,
            names=names,
            embeddings=embeddings,
            sources=sources,
            parent=local.manifest.parent,
        )
    except GalleryError:
        raise
    except ValueError as error:
        raise CorruptGalleryError(f"gallery {version}: {error}") from error
