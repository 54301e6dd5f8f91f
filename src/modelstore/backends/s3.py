"""The S3-compatible backend (AWS S3, MinIO, Ceph RGW...) through boto3, the `s3` extra.

S3 has no rename, so publishing uploads every file first and the manifest last, with
`If-None-Match: *` so that an existing version is never overwritten; readers list only
versions whose manifest exists and parses, so a crash between the two leaves invisible
files and nothing half-visible. Each file is sent with its SHA-256 (`ChecksumSHA256`),
which the server checks against the bytes it received. Channel documents are updated with
`If-Match: <etag>` (compare-and-swap), so two operators promoting at once cannot lose a move.
Credentials and region come from boto3's usual sources (AWS_ACCESS_KEY_ID, ...).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modelstore.backends import FILES_DIR, MANIFEST_NAME, SourceFile
from modelstore.errors import BackendError, ConflictError, NotFoundError, VersionExistsError

log = logging.getLogger(__name__)

_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Backend:
    def __init__(
        self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, client: Any = None
    ) -> None:
        if not bucket:
            raise ValueError("s3:// URL needs a bucket: s3://bucket[/prefix]")
        if client is None:
            try:
                import boto3
            except ImportError as error:
                raise RuntimeError("the S3 backend needs boto3: pip install 'liquidedge[s3]'") from error
            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _call(self, what: str, key: str, function: Callable[..., Any], **kwargs: Any) -> Any:
        """Run one client call, mapping S3's error codes to the store's exceptions."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return function(Bucket=self.bucket, **kwargs)
        except ClientError as error:
            code = _code(error)
            if code in _MISSING:
                raise NotFoundError(f"{key} not found in {self.url} ({code})") from None
            if code in _CONFLICT:
                raise ConflictError(f"{key} changed in {self.url} while it was being {what}") from None
            raise BackendError(f"S3 {what} of {key} in {self.url} failed: {error}") from error
        except BotoCoreError as error:
            raise BackendError(f"S3 {what} of {key} in {self.url} failed: {error}") from error

    def read(self, key: str) -> bytes:
        response = self._call("read", key, self.client.get_object, Key=self._key(key))
        return response["Body"].read()

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self._call("read", key, self.client.get_object, Key=self._key(key))
        except NotFoundError:
            return None
        return response["Body"].read(), response["ETag"]

    def write_if(self, key: str, data: bytes, token: str | None) -> None:
        condition = {"IfNoneMatch": "*"} if token is None else {"IfMatch": token}
        self._call("written", key, self.client.put_object, Key=self._key(key), Body=data, **condition)

    def list_children(self, prefix: str) -> list[str]:
        base = self._key(prefix.rstrip("/") + "/")
        names: set[str] = set()
        token: dict[str, str] = {}
        while True:
            page = self._call(
                "listed", prefix, self.client.list_objects_v2, Prefix=base, Delimiter="/", **token
            )
            names.update(p["Prefix"][len(base) :].rstrip("/") for p in page.get("CommonPrefixes", []))
            names.update(o["Key"][len(base) :] for o in page.get("Contents", []))
            if not page.get("IsTruncated"):
                break
            token = {"ContinuationToken": page["NextContinuationToken"]}
        return sorted(name for name in names if name and not name.startswith("."))

    def download(self, key: str, dest: Path) -> None:
        response = self._call("read", key, self.client.get_object, Key=self._key(key))
        with open(dest, "wb") as out:
            for chunk in response["Body"].iter_chunks(1 << 20):
                out.write(chunk)

    def _exists(self, key: str) -> bool:
        try:
            self._call("checked", key, self.client.head_object, Key=self._key(key))
        except NotFoundError:
            return False
        return True

    def publish(
        self,
        prefix: str,
        files: Sequence[SourceFile],
        manifest: bytes,
        on_file: Callable[[str], None] | None = None,
    ) -> None:
        manifest_key = f"{prefix}/{MANIFEST_NAME}"
        if self._exists(manifest_key):
            raise VersionExistsError(f"{prefix} already exists in {self.url}; versions are immutable")
        for item in files:
            checksum = base64.b64encode(bytes.fromhex(item.sha256)).decode()
            key = f"{prefix}/{FILES_DIR}/{item.path}"
            with open(item.source, "rb") as body:
                self._call(
                    "uploaded",
                    key,
                    self.client.put_object,
                    Key=self._key(key),
                    Body=body,
                    ContentLength=item.size,
                    ChecksumSHA256=checksum,
                )
            if on_file is not None:
                on_file(item.path)
        try:
            self.write_if(manifest_key, manifest, None)
        except ConflictError:
            raise VersionExistsError(f"{prefix} was published by someone else meanwhile") from None
        log.info("published %s into %s", prefix, self.url)
