"""Where versions live: a local directory (the default) or an S3-compatible bucket.

Both backends keep the same key layout, so a local store can be copied into a bucket as is:

    <kind>s/<name>/versions/<version>/manifest.json
    <kind>s/<name>/versions/<version>/files/<path>
    <kind>s/<name>/channels/<channel>.json

`ModelStore` builds keys from validated names and talks to a backend only through the
small `Backend` protocol below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

MANIFEST_NAME = "manifest.json"
FILES_DIR = "files"


@dataclass(frozen=True)
class SourceFile:
    """A file to publish: its path inside the version, where it is now, and its hash."""

    path: str
    source: Path
    sha256: str
    size: int


class Backend(Protocol):
    url: str

    def read(self, key: str) -> bytes:
        """The object's bytes; NotFoundError when absent."""
        ...

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The object and a token for `write_if`, or None when absent."""
        ...

    def write_if(self, key: str, data: bytes, token: str | None) -> None:
        """Replace the object only if it still has `token` (None: only if absent); else ConflictError."""
        ...

    def list_children(self, prefix: str) -> list[str]:
        """Names directly under `prefix/` (folders and objects), sorted; [] when none."""
        ...

    def download(self, key: str, dest: Path) -> None:
        """Copy one object to a local file (overwritten)."""
        ...

    def publish(
        self,
        prefix: str,
        files: Sequence[SourceFile],
        manifest: bytes,
        on_file: Callable[[str], None] | None = None,
    ) -> None:
        """Write `files` under `prefix/files/` then the manifest, so that the version appears whole
        or not at all; VersionExistsError when `prefix` already holds a manifest."""
        ...


def open_backend(url: str, *, s3_endpoint: str = "") -> Backend:
    """`s3://bucket/prefix` (boto3, the `s3` extra) or a directory path / `file://` URL."""
    if url.startswith("s3://"):
        from modelstore.backends.s3 import S3Backend

        bucket, _, prefix = url[len("s3://") :].partition("/")
        return S3Backend(bucket, prefix, endpoint_url=s3_endpoint or None)
    from modelstore.backends.local import LocalBackend

    path = url[len("file://") :] if url.startswith("file://") else url
    if not path:
        raise ValueError("the model store URL is empty: give a directory or s3://bucket/prefix")
    return LocalBackend(Path(path))
