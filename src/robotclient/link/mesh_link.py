"""`MeshLink`: one worker thread sends the newest frame to the mesh and reconnects on its own.

`submit` never blocks: a frame waits in a one-slot mailbox, replacing an older unsent one.
The worker runs the protocol's session again and again. When a call fails the ledger books the
frame in flight and says whether the mesh looks down: then the worker backs off (doubling up to
`backoff_max_s`) before the next call; after a refused frame (RESOURCE_EXHAUSTED,
INVALID_ARGUMENT) or a single late one, the next call starts at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import grpc

from liquidedge.client_channel import STREAMING_CLIENT_OPTIONS
from liquidedge.lockstep import Backoff
from liquidedge.mailbox import Mailbox
from robotclient.clock import Clock, MonotonicClock
from robotclient.link.ledger import LinkLedger
from robotclient.link.legacy import run_unary
from robotclient.link.v1 import run_stream
from robotclient.link.values import Answer, Failure, LinkError, LinkSettings, OutgoingFrame, Wire
from robotclient.stats import LinkStats

SESSIONS: dict[str, Callable[[Wire], None]] = {"v1": run_stream, "legacy": run_unary}

# A robot must notice within a second or two that the mesh is back (the runtime's options for
# every client that streams to the mesh for hours).
CHANNEL_OPTIONS = STREAMING_CLIENT_OPTIONS


class MeshLink:
    """Sends frames to the mesh from a worker thread. `submit` never blocks."""

    def __init__(
        self,
        settings: LinkSettings,
        clock: Clock | None = None,
        on_answer: Callable[[Answer], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or MonotonicClock()
        self.on_answer = on_answer
        self.ledger = LinkLedger(settings.address, self.clock, settings.outage_after_timeouts)
        self._mailbox: Mailbox[OutgoingFrame] = Mailbox()
        self._stop = threading.Event()
        self._channel = open_channel(settings)
        self._wire = Wire(
            settings, self._channel, self.clock, self._mailbox, self._stop, self.ledger.sent, self._deliver
        )
        self._session = SESSIONS[settings.protocol]
        self._thread = threading.Thread(target=self._run, name="mesh-link", daemon=True)

    @property
    def stats(self) -> LinkStats:
        return self.ledger.stats

    @property
    def in_outage(self) -> bool:
        return self.ledger.in_outage

    @property
    def served_by_host(self) -> str:
        return self.ledger.served_by_host

    def start(self) -> MeshLink:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Closing the channel ends the call in flight at once (gRPC cancels its RPCs)."""
        self._stop.set()
        self._mailbox.close()
        self._channel.close()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> MeshLink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def submit(self, frame: OutgoingFrame) -> None:
        """Offer a frame; an older unsent one is dropped (counted in `stats.dropped`)."""
        self.stats.bump("submitted")
        if self._mailbox.put(frame):
            self.stats.bump("dropped")

    def wait_outcome(self, frame_number: int, timeout_s: float) -> Answer | Failure | None:
        """Block until frame `frame_number` is answered or failed (None on timeout or drop)."""
        return self.ledger.wait_outcome(frame_number, timeout_s)

    def _deliver(self, answer: Answer) -> None:
        self.ledger.answered(answer)
        on_answer = self.on_answer
        if on_answer is not None:
            on_answer(answer)

    def _run(self) -> None:
        backoff = Backoff(self.settings.backoff_initial_s, self.settings.backoff_max_s)
        while not self._stop.is_set():
            try:
                self._session(self._wire)
            except ValueError:
                if self._stop.is_set():
                    break  # gRPC refuses a call on the channel `stop` has just closed
                raise
            except LinkError as error:
                if self._stop.is_set():
                    break
                if self.ledger.failed(error.frame_number, error.code, error.details):
                    self._stop.wait(backoff.next_s())
                    continue
            backoff.reset()


def open_channel(settings: LinkSettings) -> grpc.Channel:
    """Plaintext by default (loopback, or inside an Istio mesh); TLS when asked for."""
    if not (settings.tls or settings.tls_ca_file or settings.tls_cert_file):
        return grpc.insecure_channel(settings.address, options=CHANNEL_OPTIONS)
    from liquidedge.security import channel_credentials

    credentials = channel_credentials(settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)
    return grpc.secure_channel(settings.address, credentials, options=CHANNEL_OPTIONS)
