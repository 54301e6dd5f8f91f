"""Watch a channel: when it points at a new version, fetch and verify it, then report it.

A service builds one `ChannelWatcher` per model it serves (no global state) and either
runs its polling thread or calls `poll_once()` from its own loop. The callback receives
"channel X now points at version V, verified files at path P"; if the callback raises
(the model would not load, its smoke inference failed), that version is remembered as
refused and not tried again until the channel moves, so a bad version costs one attempt,
not one per poll. A store that cannot be reached is retried at the next poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelstore.errors import ManifestError, ModelStoreError, NotFoundError, VerificationError
from modelstore.fetch import LocalVersion, fetch_verified
from modelstore.store import ModelStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChannelUpdate:
    """Channel `channel` of `name` now points at `local.version`, verified at `local.path`."""

    channel: str
    local: LocalVersion

    @property
    def name(self) -> str:
        return self.local.name

    @property
    def version(self) -> str:
        return self.local.version

    @property
    def path(self) -> Path:
        return self.local.path


class ChannelWatcher:
    def __init__(
        self,
        store: ModelStore,
        name: str,
        channel: str,
        cache_dir: Path,
        *,
        kind: str = "model",
        expect_engine: str | None = None,
        interval_s: float = 5.0,
        pinned_version: str | None = None,
        on_update: Callable[[ChannelUpdate], None] | None = None,
        on_refused: Callable[[str, Exception], None] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.store = store
        self.name = name
        self.channel = channel
        self.cache_dir = Path(cache_dir)
        self.kind = kind
        self.expect_engine = expect_engine
        self.interval_s = interval_s
        self.pinned_version = pinned_version
        self.on_update = on_update
        self.on_refused = on_refused
        self.current: ChannelUpdate | None = None
        self.refused: dict[tuple[str, str], str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _target(self) -> tuple[str, str] | None:
        """(version, manifest SHA-256) to serve: the operator's pin, else the channel's pointer."""
        if self.pinned_version is not None:
            stored = self.store.get(self.name, self.pinned_version, self.kind)
            return stored.version, stored.manifest_sha256
        state = self.store.channel(self.name, self.channel, self.kind)
        return None if state is None else (state.version, state.manifest_sha256)

    def _current_key(self) -> tuple[str, str] | None:
        """(version, manifest SHA-256) of what was last delivered (verified against the target)."""
        current = self.current
        return None if current is None else (current.version, current.local.manifest_sha256)

    def _refuse(self, key: tuple[str, str], error: Exception) -> None:
        self.refused[key] = str(error)
        log.warning(
            "%s %s refused for channel %s: %s",
            self.name,
            key[0],
            self.channel,
            error,
            extra={"model": self.name, "version": key[0], "channel": self.channel},
        )
        if self.on_refused is not None:
            self.on_refused(key[0], error)

    def poll_once(self) -> ChannelUpdate | None:
        """Look once; return the update delivered, or None when nothing new was accepted."""
        try:
            key = self._target()
        except NotFoundError as error:  # a pinned version that does not exist
            log.warning("%s: %s", self.name, error)
            return None
        except ModelStoreError as error:
            log.warning("%s: model store unreachable (%s); retrying at the next poll", self.name, error)
            return None
        if key is None or key == self._current_key() or key in self.refused:
            return None
        version, manifest_sha256 = key
        try:
            local = fetch_verified(
                self.store,
                self.name,
                version,
                self.cache_dir,
                kind=self.kind,
                expect_engine=self.expect_engine,
                expect_manifest_sha256=manifest_sha256,
            )
        except (VerificationError, ManifestError, NotFoundError) as error:
            self._refuse(key, error)
            return None
        except (ModelStoreError, OSError) as error:
            log.warning("%s %s: fetch failed (%s); retrying at the next poll", self.name, version, error)
            return None
        update = ChannelUpdate(self.channel, local)
        if self.on_update is not None:
            try:
                self.on_update(update)
            except Exception as error:  # the consumer could not use it: refuse, keep the old one
                self._refuse(key, error)
                return None
        self.current = update
        log.info(
            "%s channel %s now at %s (verified in %s)",
            self.name,
            self.channel,
            version,
            local.path,
            extra={"model": self.name, "version": version, "channel": self.channel},
        )
        return update

    def _run(self) -> None:
        while True:
            try:
                self.poll_once()
            except Exception:  # the watcher thread must outlive any one bad poll
                log.exception("%s: channel poll failed", self.name)
            if self._stop.wait(self.interval_s):
                return

    def start(self) -> ChannelWatcher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"watch-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> ChannelWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
