"""What goes over the link and what comes back, the settings both protocols share, and the
`Wire` a protocol's session runs on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from liquidedge.detections import Detections
from liquidedge.mailbox import Mailbox
from robotclient.clock import Clock

# How long a session waits for a frame before it looks at `stopping` again.
FRAME_POLL_S = 0.2


@dataclass(frozen=True)
class LinkSettings:
    address: str = "localhost:50051"
    protocol: str = "v1"
    deadline_s: float = 1.0
    engines: tuple[str, ...] = ()
    max_results: int = 0
    min_confidence: float = 0.0
    classes: tuple[str, ...] = ()
    source_id: str = "robot"
    user_id: int = 1
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 2.0
    # Consecutive per-frame deadline misses that count as an outage (a hung mesh).
    outage_after_timeouts: int = 2
    # Security for a mesh reached without Istio (see liquidedge.security): TLS with this CA
    # (system roots when empty and `tls` is on), an optional client certificate, a bearer token.
    tls: bool = False
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    token: str = ""

    def __post_init__(self) -> None:
        if self.protocol not in ("v1", "legacy"):
            raise ValueError(f"protocol must be 'v1' or 'legacy', got {self.protocol!r}")
        if self.deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive, got {self.deadline_s}")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s")

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata: the bearer token when there is one."""
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


@dataclass(frozen=True)
class OutgoingFrame:
    number: int
    capture_time_s: float
    jpeg: bytes


@dataclass(frozen=True)
class Answer:
    """The mesh's answer to one frame, with the round trip measured from the echoed capture time."""

    frame_number: int
    capture_time_s: float
    received_s: float
    rtt_s: float
    detections: Detections
    served_by_host: str
    served_by_address: str
    # Per engine: (ok, latency in ms). Empty for the legacy protocol, which does not say.
    engines: dict[str, tuple[bool, float]]


@dataclass(frozen=True)
class Failure:
    frame_number: int
    code: str
    details: str


class LinkError(Exception):
    """A call ended with `code`; `frame_number` is the frame that was in flight, if any."""

    def __init__(self, frame_number: int | None, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.frame_number = frame_number
        self.code = code
        self.details = details

    @classmethod
    def from_rpc(cls, error: grpc.RpcError, frame_number: int | None) -> LinkError:
        """From the error a call raised (which is also a `grpc.Call`: it has a code and details)."""
        return cls(frame_number, error.code(), error.details() or "")


@dataclass(frozen=True)
class Wire:
    """What a session gets from the link. It runs until `stopping`, calls `sent` for each frame
    it sends and `deliver` for each answer, and raises `LinkError` when its call fails."""

    settings: LinkSettings
    channel: grpc.Channel
    clock: Clock
    mailbox: Mailbox[OutgoingFrame]
    stopping: threading.Event
    sent: Callable[[], None]
    deliver: Callable[[Answer], None]

    def next_frame(self) -> OutgoingFrame | None:
        """The newest frame, or None after a short wait or once the link is closing."""
        return self.mailbox.take(timeout_s=FRAME_POLL_S)
