"""The local-directory backend: the embedded default (what `make run` uses).

Publishing stages every file in `<root>/.staging/<random>/`, writes the manifest last, then
renames the staged folder into place: a rename is atomic on one filesystem, so a reader
sees the whole version or none of it, and a crash leaves only a staging folder that no
listing looks at. Channel updates are read-compare-replace under an `flock`, then an
`os.replace` of a fully written temporary file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from modelstore.backends import FILES_DIR, MANIFEST_NAME, SourceFile
from modelstore.errors import BackendError, ConflictError, NotFoundError, VersionExistsError

log = logging.getLogger(__name__)

STAGING_DIR = ".staging"


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _copy_hashing(source: Path, dest: Path) -> tuple[str, int]:
    """Copy and hash what was copied, so the manifest describes the stored bytes exactly."""
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as src, open(dest, "wb") as out:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


class LocalBackend:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFoundError(f"{key} not found in {self.url}") from None
        except OSError as error:
            raise BackendError(f"cannot read {key} in {self.url}: {error}") from error

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self.read(key)
        except NotFoundError:
            return None
        return data, hashlib.sha256(data).hexdigest()

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / f".{path.name}.lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def write_if(self, key: str, data: bytes, token: str | None) -> None:
        path = self._path(key)
        with self._locked(key):
            current = self.read_tagged(key)
            current_token = None if current is None else current[1]
            if current_token != token:
                raise ConflictError(f"{key} changed while it was being updated; read it again")
            temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
            try:
                _fsync_write(temporary, data)
                os.replace(temporary, path)
            finally:
                temporary.unlink(missing_ok=True)

    def list_children(self, prefix: str) -> list[str]:
        folder = self._path(prefix)
        try:
            return sorted(entry.name for entry in folder.iterdir() if not entry.name.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def download(self, key: str, dest: Path) -> None:
        try:
            shutil.copyfile(self._path(key), dest)
        except FileNotFoundError:
            raise NotFoundError(f"{key} not found in {self.url}") from None

    def publish(
        self,
        prefix: str,
        files: Sequence[SourceFile],
        manifest: bytes,
        on_file: Callable[[str], None] | None = None,
    ) -> None:
        target = self._path(prefix)
        if (target / MANIFEST_NAME).exists():
            raise VersionExistsError(f"{prefix} already exists in {self.url}; versions are immutable")
        stage = self.root / STAGING_DIR / uuid.uuid4().hex
        stage.mkdir(parents=True)
        try:
            for item in files:
                dest = stage / FILES_DIR / item.path
                dest.parent.mkdir(parents=True, exist_ok=True)
                sha256, size = _copy_hashing(item.source, dest)
                if (sha256, size) != (item.sha256, item.size):
                    raise BackendError(f"{item.source} changed while it was being published")
                if on_file is not None:
                    on_file(item.path)
            _fsync_write(stage / MANIFEST_NAME, manifest)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(stage, target)
            except OSError as error:
                # A non-empty target (another publisher won) makes rename fail: never merge into it.
                raise VersionExistsError(f"{prefix} already exists in {self.url}: {error}") from error
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
        log.info("published %s into %s", prefix, self.url)
