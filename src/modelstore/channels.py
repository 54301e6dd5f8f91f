"""Channels: named pointers (`production`, `canary`, any name) at the version to serve.

A channel document holds the version it points at (and that version's manifest hash, so a
reader notices a manifest swapped behind its back), the versions it pointed at before (a
stack: promote pushes, rollback pops), an optional operator pin that freezes it, and a
short log of moves for the audit trail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from modelstore.errors import ChannelError, ManifestError

HISTORY_LIMIT = 50


@dataclass(frozen=True)
class ChannelEvent:
    action: str
    version: str | None
    at: str
    note: str = ""


@dataclass(frozen=True)
class Pin:
    reason: str
    at: str


@dataclass(frozen=True)
class ChannelState:
    name: str
    channel: str
    version: str
    manifest_sha256: str
    updated: str
    previous: tuple[str, ...] = ()
    pinned: Pin | None = None
    log: tuple[ChannelEvent, ...] = field(default=())

    def moved_to(self, version: str, manifest_sha256: str, at: str) -> ChannelState:
        """Point at `version`, remembering the current one for rollback."""
        previous = (*self.previous, self.version)[-HISTORY_LIMIT:]
        return replace(self, version=version, manifest_sha256=manifest_sha256, updated=at, previous=previous)

    def rolled_back(self, manifest_sha256: str, at: str) -> ChannelState:
        """Point at the version before the last move (its manifest hash given by the caller)."""
        if not self.previous:
            raise ChannelError(f"{self.name}: channel {self.channel} has no earlier version to roll back to")
        return replace(
            self,
            version=self.previous[-1],
            manifest_sha256=manifest_sha256,
            updated=at,
            previous=self.previous[:-1],
        )

    def logged(self, event: ChannelEvent, **changes: Any) -> ChannelState:
        """A copy with `event` appended to the log (and `changes` applied)."""
        return replace(self, log=(*self.log, event)[-HISTORY_LIMIT:], **changes)

    def to_json(self) -> bytes:
        document = {
            "name": self.name,
            "channel": self.channel,
            "version": self.version,
            "manifest_sha256": self.manifest_sha256,
            "updated": self.updated,
            "previous": list(self.previous),
            "pinned": None if self.pinned is None else vars(self.pinned),
            "log": [vars(event) for event in self.log],
        }
        return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, *, where: str) -> ChannelState:
        try:
            raw = json.loads(data)
            pinned = raw.get("pinned")
            return cls(
                name=raw["name"],
                channel=raw["channel"],
                version=raw["version"],
                manifest_sha256=raw["manifest_sha256"],
                updated=raw["updated"],
                previous=tuple(raw.get("previous", ())),
                pinned=None if pinned is None else Pin(**pinned),
                log=tuple(ChannelEvent(**event) for event in raw.get("log", ())),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ManifestError(f"{where} is not a valid channel document: {error}") from error
