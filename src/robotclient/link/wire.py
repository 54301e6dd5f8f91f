"""What a protocol's transport gets from the link, and what the link expects of a transport."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import grpc

from robotclient.clock import Clock
from robotclient.link.ledger import LinkLedger
from robotclient.link.values import Answer, LinkSettings, OutgoingFrame
from robotclient.mailbox import Mailbox

# How long a transport waits for a frame before it looks at `stopping` again.
FRAME_POLL_S = 0.2


@dataclass(frozen=True)
class Wire:
    """Frames to send (newest only), the books to keep, and where answers go."""

    settings: LinkSettings
    channel: grpc.Channel
    clock: Clock
    mailbox: Mailbox[OutgoingFrame]
    stopping: threading.Event
    ledger: LinkLedger
    deliver: Callable[[Answer], None]

    def next_frame(self) -> OutgoingFrame | None:
        """The newest frame, or None after a short wait or once the link is closing."""
        return self.mailbox.take(timeout=FRAME_POLL_S)


class Transport(Protocol):
    def run(self) -> None:
        """Send frames until `stopping`; raise `LinkError` when the call fails."""

    def cancel(self) -> None:
        """End the call in flight now (the link is stopping)."""
