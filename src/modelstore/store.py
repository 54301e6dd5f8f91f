"""The model store: immutable versions, channels that point at them, promote and roll back.

Everything here works on any `Backend`; keys are built only from names that passed
`modelstore.names`, so user input never becomes a path by itself.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelstore.backends import FILES_DIR, MANIFEST_NAME, Backend, SourceFile
from modelstore.channels import ChannelEvent, ChannelState, Pin
from modelstore.errors import ChannelError, ConflictError, ManifestError, NotFoundError
from modelstore.manifest import FileEntry, Manifest, sha256_bytes, sha256_file
from modelstore.names import check_kind, check_name, check_relative_path, check_version

log = logging.getLogger(__name__)

PARENT_LATEST = "@latest"
_CAS_ATTEMPTS = 8
# `promote(expect=ANY_VERSION)`: move the channel wherever it points now.
ANY_VERSION = "@any"


@dataclass(frozen=True)
class StoredVersion:
    """A published version: its manifest, parsed and as the bytes stored."""

    manifest: Manifest
    manifest_bytes: bytes

    @property
    def manifest_sha256(self) -> str:
        return sha256_bytes(self.manifest_bytes)

    @property
    def version(self) -> str:
        return self.manifest.version


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


class ModelStore:
    def __init__(self, backend: Backend, *, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.clock = clock

    @property
    def url(self) -> str:
        return self.backend.url

    # ---- keys ------------------------------------------------------------------------------
    @staticmethod
    def _root(name: str, kind: str) -> str:
        return f"{check_kind(kind)}s/{check_name(name)}"

    def _version_prefix(self, name: str, version: str, kind: str) -> str:
        return f"{self._root(name, kind)}/versions/{check_version(version)}"

    def file_key(self, name: str, version: str, path: str, kind: str = "model") -> str:
        return f"{self._version_prefix(name, version, kind)}/{FILES_DIR}/{check_relative_path(path)}"

    def _channel_key(self, name: str, channel: str, kind: str) -> str:
        return f"{self._root(name, kind)}/channels/{check_name(channel, 'channel name')}.json"

    # ---- versions --------------------------------------------------------------------------
    def names(self, kind: str = "model") -> list[str]:
        return self.backend.list_children(f"{check_kind(kind)}s")

    def get(self, name: str, version: str, kind: str = "model") -> StoredVersion:
        """A published version; NotFoundError when it has no manifest (never or half published)."""
        key = f"{self._version_prefix(name, version, kind)}/{MANIFEST_NAME}"
        try:
            data = self.backend.read(key)
        except NotFoundError:
            raise NotFoundError(f"{kind} {name} has no published version {version}") from None
        manifest = Manifest.from_json(data, where=f"{self.url} {key}")
        if (manifest.name, manifest.version, manifest.kind) != (name, version, kind):
            raise ManifestError(
                f"{key} describes {manifest.kind} {manifest.name} {manifest.version}, not {kind} {name} {version}"
            )
        return StoredVersion(manifest, data)

    def versions(self, name: str, kind: str = "model") -> list[StoredVersion]:
        """Published versions, oldest first; folders without a valid manifest are left out."""
        found = []
        for version in self.backend.list_children(f"{self._root(name, kind)}/versions"):
            try:
                found.append(self.get(name, version, kind))
            except (NotFoundError, ManifestError, ValueError) as error:
                log.debug("skipping %s %s: %s", name, version, error)
        return sorted(found, key=lambda v: (v.manifest.created, v.version))

    def latest(self, name: str, kind: str = "model") -> StoredVersion | None:
        versions = self.versions(name, kind)
        return versions[-1] if versions else None

    def publish(
        self,
        name: str,
        files: Mapping[str, Path],
        *,
        engine: str,
        format: str,
        kind: str = "model",
        version: str | None = None,
        parent: str | None = PARENT_LATEST,
        metrics: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        on_file: Callable[[str], None] | None = None,
    ) -> StoredVersion:
        """Publish `files` (path in the version -> file on disk) as a new immutable version.

        `version` defaults to `<UTC time>-<content hash>`; `parent` to the latest version.
        """
        check_name(name)
        check_kind(kind)
        sources = []
        for path, source in sorted(files.items()):
            if not Path(source).is_file():
                raise FileNotFoundError(f"{source} is not a file")
            sha256, size = sha256_file(Path(source))
            sources.append(SourceFile(check_relative_path(path), Path(source), sha256, size))
        if not sources:
            raise ValueError(f"nothing to publish for {name}: no files")
        now = self.clock()
        if parent == PARENT_LATEST:
            latest = self.latest(name, kind)
            parent = None if latest is None else latest.version
        elif parent is not None:
            self.get(name, parent, kind)
        if version is None:
            # The parent is part of the id's hash: a retrain that reproduces its parent's files
            # byte for byte (a deterministic trainer, the same data) within the same second is a
            # new version in the lineage, not a clash with the one it replaces.
            content = hashlib.sha256(
                "".join(f"{s.path}\0{s.sha256}\n" for s in sources).encode() + f"parent\0{parent}".encode()
            )
            version = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + content.hexdigest()[:8]
        manifest = Manifest(
            name=name,
            version=check_version(version),
            kind=kind,
            engine=engine,
            format=format,
            created=_iso(now),
            files=tuple(FileEntry(s.path, s.sha256, s.size) for s in sources),
            parent=parent,
            metrics=metrics or {},
            meta=meta or {},
        )
        data = manifest.to_json()
        self.backend.publish(self._version_prefix(name, manifest.version, kind), sources, data, on_file)
        log.info(
            "published %s %s %s (%d files, %d bytes)",
            kind,
            name,
            manifest.version,
            len(sources),
            manifest.total_bytes,
        )
        return StoredVersion(manifest, data)

    def publish_dir(
        self, name: str, directory: Path, *, include: Iterable[str] = ("*",), **options: Any
    ) -> StoredVersion:
        """Publish the regular files of `directory` (recursively) whose relative path matches `include`."""
        root = Path(directory)
        if not root.is_dir():
            raise NotADirectoryError(f"{root} is not a directory")
        patterns = tuple(include)
        files = {
            p.relative_to(root).as_posix(): p
            for p in sorted(root.rglob("*"))
            if p.is_file() and any(p.relative_to(root).match(pattern) for pattern in patterns)
        }
        if not files:
            raise ValueError(f"no file in {root} matches {list(patterns)}")
        return self.publish(name, files, **options)

    def download_file(self, name: str, version: str, path: str, dest: Path, kind: str = "model") -> None:
        self.backend.download(self.file_key(name, version, path, kind), dest)

    # ---- channels --------------------------------------------------------------------------
    def channel(self, name: str, channel: str, kind: str = "model") -> ChannelState | None:
        key = self._channel_key(name, channel, kind)
        tagged = self.backend.read_tagged(key)
        return None if tagged is None else ChannelState.from_json(tagged[0], where=f"{self.url} {key}")

    def channels(self, name: str, kind: str = "model") -> list[ChannelState]:
        names = self.backend.list_children(f"{self._root(name, kind)}/channels")
        states = [self.channel(name, n.removesuffix(".json"), kind) for n in names if n.endswith(".json")]
        return [s for s in states if s is not None]

    def _update_channel(
        self,
        name: str,
        channel: str,
        kind: str,
        change: Callable[[ChannelState | None], ChannelState],
    ) -> ChannelState:
        """Read, change, write back only if nobody wrote meanwhile; retry on a lost race."""
        key = self._channel_key(name, channel, kind)
        for _ in range(_CAS_ATTEMPTS):
            tagged = self.backend.read_tagged(key)
            current = None if tagged is None else ChannelState.from_json(tagged[0], where=key)
            updated = change(current)
            try:
                self.backend.write_if(key, updated.to_json(), None if tagged is None else tagged[1])
            except ConflictError:
                continue
            return updated
        raise ConflictError(f"{name} channel {channel}: too many concurrent updates, try again")

    @staticmethod
    def _check_unpinned(state: ChannelState | None, force: bool) -> None:
        if state is not None and state.pinned is not None and not force:
            raise ChannelError(
                f"{state.name}: channel {state.channel} is pinned to {state.version} "
                f"({state.pinned.reason}); unpin it first or force the move"
            )

    def promote(
        self,
        name: str,
        version: str,
        channel: str = "production",
        *,
        kind: str = "model",
        note: str = "",
        force: bool = False,
        expect: str | None = ANY_VERSION,
    ) -> ChannelState:
        """Point `channel` at a published `version` (the previous one is kept for rollback).

        `expect`: move it only if it still points at this version (None: only if the channel
        does not exist yet), else ConflictError. A writer that derived `version` from the
        channel's version (a gallery with one more person) so never loses a concurrent move.
        """
        target = self.get(name, version, kind)
        at = _iso(self.clock())
        event = ChannelEvent("promote", version, at, note)

        def change(state: ChannelState | None) -> ChannelState:
            self._check_unpinned(state, force)
            current = None if state is None else state.version
            if expect != ANY_VERSION and current != expect:
                raise ConflictError(
                    f"{name}: channel {channel} points at {current}, not {expect}: it moved meanwhile"
                )
            if state is None:
                return ChannelState(name, channel, version, target.manifest_sha256, at).logged(event)
            if state.version == version:
                raise ChannelError(f"{name}: channel {channel} already points at {version}")
            return state.moved_to(version, target.manifest_sha256, at).logged(event)

        state = self._update_channel(name, channel, kind, change)
        log.info("%s %s: channel %s -> %s", kind, name, channel, version)
        return state

    def rollback(
        self,
        name: str,
        channel: str = "production",
        *,
        kind: str = "model",
        note: str = "",
        force: bool = False,
    ) -> ChannelState:
        """Point `channel` back at the version it pointed at before the last promote."""
        at = _iso(self.clock())

        def change(state: ChannelState | None) -> ChannelState:
            if state is None:
                raise NotFoundError(f"{kind} {name} has no channel {channel}")
            self._check_unpinned(state, force)
            if not state.previous:
                raise ChannelError(f"{name}: channel {channel} has no earlier version to roll back to")
            back_to = self.get(name, state.previous[-1], kind)
            event = ChannelEvent("rollback", back_to.version, at, note)
            return state.rolled_back(back_to.manifest_sha256, at).logged(event)

        state = self._update_channel(name, channel, kind, change)
        log.info("%s %s: channel %s rolled back to %s", kind, name, channel, state.version)
        return state

    def pin(
        self,
        name: str,
        channel: str = "production",
        *,
        reason: str,
        version: str | None = None,
        kind: str = "model",
    ) -> ChannelState:
        """Freeze `channel` (on `version` when given): promote and rollback refuse until unpinned."""
        if not reason.strip():
            raise ValueError("a pin needs a reason (it is shown to whoever tries to move the channel)")
        at = _iso(self.clock())
        target = None if version is None else self.get(name, version, kind)

        def change(state: ChannelState | None) -> ChannelState:
            if state is None:
                if target is None:
                    raise NotFoundError(f"{kind} {name} has no channel {channel}: name a version to pin")
                state = ChannelState(name, channel, target.version, target.manifest_sha256, at)
            elif target is not None and target.version != state.version:
                state = state.moved_to(target.version, target.manifest_sha256, at)
            return state.logged(ChannelEvent("pin", state.version, at, reason), pinned=Pin(reason, at))

        return self._update_channel(name, channel, kind, change)

    def unpin(self, name: str, channel: str = "production", *, kind: str = "model") -> ChannelState:
        at = _iso(self.clock())

        def change(state: ChannelState | None) -> ChannelState:
            if state is None:
                raise NotFoundError(f"{kind} {name} has no channel {channel}")
            if state.pinned is None:
                raise ChannelError(f"{name}: channel {channel} is not pinned")
            return state.logged(ChannelEvent("unpin", state.version, at), pinned=None)

        return self._update_channel(name, channel, kind, change)
