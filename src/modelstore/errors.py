"""What can go wrong with the model store, as exceptions a caller can act on.

Each names the thing (model, version, file, channel) and what to do, because these
messages end up in service logs and health details an operator reads.
"""

from __future__ import annotations


class ModelStoreError(Exception):
    """Base of every model store error."""


class NotFoundError(ModelStoreError):
    """A model, version, channel or object that does not exist (or is not published yet)."""


class VersionExistsError(ModelStoreError):
    """Versions are immutable: publishing an existing name/version again is refused."""


class ManifestError(ModelStoreError):
    """A manifest that does not parse or breaks the schema; such a version is not listed."""


class VerificationError(ModelStoreError):
    """Fetched files that do not match their manifest (checksum, size, engine): never loaded."""


class ChannelError(ModelStoreError):
    """A channel move that is refused (pinned channel, nothing to roll back to)."""


class ConflictError(ModelStoreError):
    """A conditional write lost a race with another writer; read again and retry."""


class BackendError(ModelStoreError):
    """The storage itself failed (unreachable endpoint, permissions, full disk)."""
