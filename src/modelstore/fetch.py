"""Fetch and verify: a version copied into a local cache, every file checked before use.

A service never loads a file straight from the store: it fetches the version into its
cache, where each file's size and SHA-256 are checked against the manifest (and the
manifest against the hash the channel recorded). A truncated download, a flipped bit, a
manifest swapped in the bucket or a model for another engine is refused with an error that
says which file and why, and nothing of it is left in the cache.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from modelstore.backends import FILES_DIR, MANIFEST_NAME
from modelstore.errors import VerificationError
from modelstore.manifest import Manifest, sha256_bytes, sha256_file
from modelstore.store import ModelStore

log = logging.getLogger(__name__)

PARTIAL_DIR = ".partial"
# Where the services, the store CLI and the jobs keep verified versions unless told otherwise.
DEFAULT_CACHE = "var/modelcache"


@dataclass(frozen=True)
class LocalVersion:
    """A verified version in the cache: `path` holds its files under their manifest paths."""

    manifest: Manifest
    manifest_sha256: str
    path: Path

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    def file(self, path: str) -> Path:
        self.manifest.file(path)
        return self.path / path


def verify_files(root: Path, manifest: Manifest) -> None:
    """Check every file of `manifest` under `root` (size first: a truncated file says so)."""
    label = f"{manifest.name} {manifest.version}"
    for entry in manifest.files:
        path = root / entry.path
        if not path.is_file():
            raise VerificationError(f"{label}: file {entry.path} is missing")
        size = path.stat().st_size
        if size != entry.size:
            raise VerificationError(
                f"{label}: file {entry.path} is {size} bytes but the manifest says {entry.size} "
                f"({'truncated' if size < entry.size else 'longer than published'}); refused"
            )
        sha256, _ = sha256_file(path)
        if sha256 != entry.sha256:
            raise VerificationError(
                f"{label}: file {entry.path} has SHA-256 {sha256[:16]}... but the manifest says "
                f"{entry.sha256[:16]}... (corrupt or altered); refused"
            )


def check_engine(manifest: Manifest, expect_engine: str | None) -> None:
    if expect_engine is not None and manifest.engine != expect_engine:
        raise VerificationError(
            f"{manifest.name} {manifest.version} is a {manifest.engine!r} model ({manifest.format}), "
            f"not for the {expect_engine!r} engine; refused"
        )


def _cached(folder: Path, stored_sha256: str) -> LocalVersion | None:
    """The cached copy when it is complete and unaltered, else None (and it is removed)."""
    try:
        data = (folder / MANIFEST_NAME).read_bytes()
        if sha256_bytes(data) != stored_sha256:
            raise VerificationError("cached manifest differs from the store's")
        manifest = Manifest.from_json(data, where=str(folder))
        verify_files(folder / FILES_DIR, manifest)
    except (OSError, VerificationError) as error:
        log.warning("cached copy in %s is not usable (%s); fetching again", folder, error)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return LocalVersion(manifest, stored_sha256, folder / FILES_DIR)


def fetch_verified(
    store: ModelStore,
    name: str,
    version: str,
    cache_dir: Path,
    *,
    kind: str = "model",
    expect_engine: str | None = None,
    expect_manifest_sha256: str | None = None,
    refetch: bool = False,
) -> LocalVersion:
    """Copy `name` `version` into `cache_dir` (unless a verified copy is there) and verify it.

    `refetch` downloads again even over a good cached copy: it checks the store, not the cache.
    """
    stored = store.get(name, version, kind)
    if expect_manifest_sha256 is not None and stored.manifest_sha256 != expect_manifest_sha256:
        raise VerificationError(
            f"{name} {version}: its manifest is not the one the channel was promoted with "
            f"(SHA-256 {stored.manifest_sha256[:16]}... != {expect_manifest_sha256[:16]}...); refused"
        )
    manifest = stored.manifest
    check_engine(manifest, expect_engine)
    final = Path(cache_dir) / f"{kind}s" / name / version
    if not refetch and final.is_dir() and (hit := _cached(final, stored.manifest_sha256)) is not None:
        return hit
    partial = Path(cache_dir) / PARTIAL_DIR / uuid.uuid4().hex
    try:
        for entry in manifest.files:
            dest = partial / FILES_DIR / entry.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            store.download_file(name, version, entry.path, dest, kind)
        verify_files(partial / FILES_DIR, manifest)
        (partial / MANIFEST_NAME).write_bytes(stored.manifest_bytes)
        final.parent.mkdir(parents=True, exist_ok=True)
        if refetch:
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(partial, final)
        except OSError:
            # Another fetcher of the same version finished first; its copy is as good as ours.
            if (hit := _cached(final, stored.manifest_sha256)) is None:
                raise
            return hit
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    log.info("fetched and verified %s %s into %s", name, version, final)
    return LocalVersion(manifest, stored.manifest_sha256, final / FILES_DIR)


def prune_cache(cache_dir: Path, name: str, versions: Iterable[str], *, kind: str = "model") -> list[str]:
    """Remove these cached versions of `name` (those a service served before the one it serves
    now); returns those removed.

    A service that swaps versions for weeks would otherwise fill its cache volume (a pod's
    `emptyDir` has a size limit; past it the pod is evicted). A loaded model no longer needs its
    files, and a rollback fetches and verifies again. Only versions the caller names go: another
    process sharing the cache may be loading a version this one never served.
    """
    folder = Path(cache_dir) / f"{kind}s" / name
    removed = []
    for version in sorted(set(versions)):
        path = folder / version
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(version)
    if removed:
        log.info("removed %d cached versions of %s no longer served: %s", len(removed), name, removed)
    return removed
