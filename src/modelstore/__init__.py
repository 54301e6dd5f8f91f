"""A versioned model store: immutable versions, channels, fetch-and-verify, a watcher.

Models (the YOLO network, a face gallery, a trained classifier) and the datasets they are
trained from are published as immutable versions: files plus a manifest with every file's
SHA-256. Channels (`production`, `canary`, ...) point at the version an edge must serve.
The store lives in a local directory (the default) or an S3-compatible bucket.
"""

from modelstore.backends import open_backend
from modelstore.channels import ChannelState
from modelstore.errors import (
    BackendError,
    ChannelError,
    ConflictError,
    ManifestError,
    ModelStoreError,
    NotFoundError,
    VerificationError,
    VersionExistsError,
)
from modelstore.fetch import LocalVersion, fetch_verified
from modelstore.manifest import FileEntry, Manifest
from modelstore.store import ModelStore, StoredVersion
from modelstore.watch import ChannelUpdate, ChannelWatcher


def open_store(url: str, *, s3_endpoint: str = "") -> ModelStore:
    """A store at `url`: a directory (the default backend) or `s3://bucket/prefix`."""
    return ModelStore(open_backend(url, s3_endpoint=s3_endpoint))


__all__ = [
    "BackendError",
    "ChannelError",
    "ChannelState",
    "ChannelUpdate",
    "ChannelWatcher",
    "ConflictError",
    "FileEntry",
    "LocalVersion",
    "Manifest",
    "ManifestError",
    "ModelStore",
    "ModelStoreError",
    "NotFoundError",
    "StoredVersion",
    "VerificationError",
    "VersionExistsError",
    "fetch_verified",
    "open_store",
]
