"""The link to the mesh: newest frame only, one frame in flight, reconnects on its own.

The v1 protocol streams (`Detector/DetectStream`); `--protocol legacy` speaks the deployed
robots' unary `ObjectDetection/ObjectDetect`. Either way one worker thread sends the newest
frame from a one-slot mailbox, waits for its answer (or its per-frame deadline), then takes
the next. When the mesh goes away the link backs off and retries, logs the outage once, and
logs again when answers come back. RESOURCE_EXHAUSTED and INVALID_ARGUMENT are about one
frame (too big, undecodable): that frame is dropped and the stream reopened at once.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc

from liquidedge.detections import Detections
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.messages import detections_from_proto
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from robotclient.clock import Clock, MonotonicClock
from robotclient.mailbox import Mailbox
from robotclient.stats import LinkStats

log = logging.getLogger(__name__)

# Codes that condemn one frame, not the mesh.
FRAME_CODES = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT})

# Keep the channel's own reconnect attempts frequent: its default backoff grows to two minutes,
# and a robot must notice within a second or two that the mesh is back.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 2_000),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
)


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
        self.stats = LinkStats()
        self.last_answer: Answer | None = None
        self.served_by_host = ""
        self.in_outage = False
        self.outage_since_s: float | None = None
        self._mailbox: Mailbox[OutgoingFrame] = Mailbox()
        self._stop = threading.Event()
        self._answered = threading.Event()
        self._outcomes: dict[int, Answer | Failure] = {}
        self._outcome_cond = threading.Condition()
        self._call: grpc.Call | None = None
        self._timeouts_in_row = 0
        self._channel = _open_channel(settings)
        self._metadata = (("authorization", f"Bearer {settings.token}"),) if settings.token else ()
        self._thread = threading.Thread(target=self._run, name="mesh-link", daemon=True)

    # -- public API -------------------------------------------------------------------------

    def start(self) -> MeshLink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._mailbox.close()
        call = self._call
        if call is not None:
            call.cancel()
        self._thread.join(timeout=5.0)
        self._channel.close()

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
        with self._outcome_cond:
            self._outcome_cond.wait_for(lambda: frame_number in self._outcomes, timeout_s)
            return self._outcomes.pop(frame_number, None)

    # -- worker -------------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.settings.backoff_initial_s
        while not self._stop.is_set():
            try:
                if self.settings.protocol == "v1":
                    self._run_stream()
                else:
                    self._run_legacy()
                backoff = self.settings.backoff_initial_s
            except grpc.RpcError as error:
                if self._stop.is_set():
                    break
                code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
                if self._handle_error(code, error.details() if hasattr(error, "details") else str(error)):
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2.0, self.settings.backoff_max_s)
                else:
                    backoff = self.settings.backoff_initial_s
            finally:
                self._call = None

    def _handle_error(self, code: grpc.StatusCode, details: str) -> bool:
        """Book the in-flight frame as failed; True when the mesh itself looks down (back off)."""
        number = self._in_flight_number
        self._in_flight_number = None
        if number is not None:
            self._fail(number, code.name, details)
        if code in FRAME_CODES:
            log.warning("mesh refused frame %s: %s %s", number, code.name, details)
            return False
        if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
            self._timeouts_in_row += 1
            if self._timeouts_in_row < self.settings.outage_after_timeouts:
                return False
        self._begin_outage(code.name, details)
        return True

    _in_flight_number: int | None = None

    def _requests(
        self, answered: threading.Event, finished: threading.Event
    ) -> Iterator[detection_pb2.DetectRequest]:
        s = self.settings
        while not self._stop.is_set() and not finished.is_set():
            frame = self._mailbox.take(timeout=0.2)
            if frame is None:
                continue
            if finished.is_set():
                # gRPC may ask a dead stream's iterator for one more request; hand the frame
                # back so the next stream sends it.
                self._mailbox.put_back(frame)
                return
            answered.clear()
            self._in_flight_number = frame.number
            self.stats.bump("sent")
            yield detection_pb2.DetectRequest(
                frame=detection_pb2.Frame(
                    number=frame.number,
                    capture_time_us=round(frame.capture_time_s * 1e6),
                    jpeg=frame.jpeg,
                    source_id=s.source_id,
                ),
                engines=list(s.engines),
                max_results=s.max_results,
                min_confidence=s.min_confidence,
                classes=list(s.classes),
                deadline_ms=round(s.deadline_s * 1000),
            )
            if not answered.wait(s.deadline_s) and not self._stop.is_set():
                # One stream carries many frames, so a late answer is cut off by cancelling the
                # stream; the worker books it as DEADLINE_EXCEEDED and reopens.
                self._deadline_missed = True
                call = self._call
                if call is not None:
                    call.cancel()
                return

    _deadline_missed = False

    def _run_stream(self) -> None:
        stub = detection_pb2_grpc.DetectorStub(self._channel)
        answered = threading.Event()
        finished = threading.Event()
        self._deadline_missed = False
        call = stub.DetectStream(
            self._requests(answered, finished), wait_for_ready=False, metadata=self._metadata
        )
        self._call = call
        try:
            for response in call:
                self._in_flight_number = None
                self._deliver(self._v1_answer(response))
                answered.set()
        except grpc.RpcError as error:
            if self._deadline_missed and error.code() is grpc.StatusCode.CANCELLED:
                raise _DeadlineMissed() from error
            raise
        finally:
            finished.set()

    def _run_legacy(self) -> None:
        stub = robot_pb2_grpc.ObjectDetectionStub(self._channel)
        s = self.settings
        wants = set(s.engines) or {"face", "yolo"}
        while not self._stop.is_set():
            frame = self._mailbox.take(timeout=0.2)
            if frame is None:
                continue
            self._in_flight_number = frame.number
            self.stats.bump("sent")
            request = robot_pb2.ObjectDetectionRequest(
                user_id=s.user_id,
                frame=robot_pb2.VideoFrame(
                    number=frame.number, timestamp=round(frame.capture_time_s * 1e6), img=frame.jpeg
                ),
                wantface=int("face" in wants),
                wantyolo=int("yolo" in wants),
                max_results=s.max_results,
            )
            response = stub.ObjectDetect(
                request, timeout=s.deadline_s, wait_for_ready=False, metadata=self._metadata
            )
            self._in_flight_number = None
            self._deliver(self._legacy_answer(response))

    # -- answers ------------------------------------------------------------------------------

    def _v1_answer(self, response: detection_pb2.DetectResponse) -> Answer:
        now = self.clock.now()
        capture = response.capture_time_us / 1e6
        return Answer(
            frame_number=response.frame_number,
            capture_time_s=capture,
            received_s=now,
            rtt_s=now - capture,
            detections=detections_from_proto(response.detections),
            served_by_host=response.served_by.hostname,
            served_by_address=response.served_by.address,
            engines={e.engine: (e.ok, e.latency_ms) for e in response.engines},
        )

    def _legacy_answer(self, response: robot_pb2.ObjectDetectionResponse) -> Answer:
        now = self.clock.now()
        capture = response.timestamp / 1e6
        objects = list(response.objects)
        detections = (
            Detections(
                xyxy=[(o.x, o.y, o.x + o.w, o.y + o.h) for o in objects],
                confidence=[o.confidence for o in objects],
                label=[o.name for o in objects],
                engine=["face" if o.eng == robot_pb2.DetectedObject.FACE else "yolo" for o in objects],
                color_rgb=[(o.r, o.g, o.b) for o in objects],
            )
            if objects
            else Detections.empty()
        )
        return Answer(
            frame_number=response.number,
            capture_time_s=capture,
            received_s=now,
            rtt_s=now - capture,
            detections=detections,
            served_by_host=response.name,
            served_by_address=str(ipaddress.IPv4Address(response.ipv4)) if response.ipv4 else "",
            engines={},
        )

    def _deliver(self, answer: Answer) -> None:
        self._timeouts_in_row = 0
        if self.in_outage:
            lasted = answer.received_s - (self.outage_since_s or answer.received_s)
            log.info("mesh is back after %.1f s, served by %s", lasted, answer.served_by_host)
            self.in_outage = False
            self.outage_since_s = None
        if answer.served_by_host != self.served_by_host:
            log.info("now served by %s (%s)", answer.served_by_host, answer.served_by_address)
            self.served_by_host = answer.served_by_host
        self.last_answer = answer
        self.stats.record_answer(answer.rtt_s, answer.received_s, answer.engines)
        self._settle(answer.frame_number, answer)
        if self.on_answer is not None:
            self.on_answer(answer)

    def _fail(self, number: int, code: str, details: str) -> None:
        self.stats.record_failure(code)
        self._settle(number, Failure(number, code, details))

    def _settle(self, number: int, outcome: Answer | Failure) -> None:
        with self._outcome_cond:
            self._outcomes[number] = outcome
            while len(self._outcomes) > 64:
                self._outcomes.pop(next(iter(self._outcomes)))
            self._outcome_cond.notify_all()

    def _begin_outage(self, code: str, details: str) -> None:
        if not self.in_outage:
            self.in_outage = True
            self.outage_since_s = self.clock.now()
            self.stats.bump("outages")
            log.warning("mesh at %s unreachable (%s: %s); retrying", self.settings.address, code, details)


def _open_channel(settings: LinkSettings) -> grpc.Channel:
    """Plaintext by default (loopback, or inside an Istio mesh); TLS when asked for."""
    if not (settings.tls or settings.tls_ca_file or settings.tls_cert_file):
        return grpc.insecure_channel(settings.address, options=CHANNEL_OPTIONS)
    from liquidedge.security import channel_credentials

    credentials = channel_credentials(settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)
    return grpc.secure_channel(settings.address, credentials, options=CHANNEL_OPTIONS)


class _DeadlineMissed(grpc.RpcError):
    """The per-frame deadline passed on a stream; raised in place of the CANCELLED it caused."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.DEADLINE_EXCEEDED

    def details(self) -> str:
        return "no answer within the per-frame deadline"
