"""A lock-step client of a detector or the mesh: one frame in flight, the next when it is answered.

That is how a robot drives the mesh (it tracks with the boxes of the last frame before it
sends the next), so the tools that load the mesh (bench, soak, demo), the fault-injection
tests and the robot's video-clip client all drive it through this one client. Each `send`
stamps the frame's capture time, waits for the answer (or the client's own `wait_s`), and
returns an `Outcome`: the status, the round trip measured from the echoed capture time, each
engine's status. A stream that failed is hung up and the next `send` opens a new one.

Protocols: `stream` (v1 `DetectStream`, one call carrying many frames), `unary` (v1
`Detect`), `legacy` (the deployed robots' `ObjectDetect`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.v1 import detection_pb2, detection_pb2_grpc

PROTOCOLS = ("stream", "unary", "legacy")
OK = "OK"
# No answer within the client's own wait: the frame is given up and its stream hung up.
LOST = "LOST"
# The server closed the stream without answering the frame.
ENDED = "ENDED"
# An answer to another frame than the one in flight (a server bug: the stream is hung up).
OUT_OF_ORDER = "OUT_OF_ORDER"
# Codes that condemn one frame (too big, undecodable, shed), not the mesh: send the next at once.
FRAME_CODES = frozenset({"RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"})
# A robot reconnects within about a second of the mesh coming back, not after gRPC's default
# reconnect backoff of up to two minutes.
RECONNECT_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
)
# A v1 stream only needs to outlive the run: each frame's budget travels in deadline_ms.
STREAM_CALL_TIMEOUT_S = 24 * 3600.0


@dataclass(frozen=True)
class FrameOptions:
    """What every request of a client asks besides its frame (0 / empty: the server's default)."""

    source_id: str = "lockstep"
    engines: tuple[str, ...] = ()
    deadline_ms: int = 0
    max_results: int = 0
    min_confidence: float = 0.0
    classes: tuple[str, ...] = ()
    user_id: int = 1  # legacy protocol only


@dataclass(frozen=True)
class EngineOutcome:
    code: str
    latency_ms: float
    served_by: str = ""
    model_version: str = ""  # the engine's model version that made the answer, when it says


@dataclass(frozen=True)
class Outcome:
    """One frame's fate. `code` is OK, a gRPC status code name, LOST, ENDED or OUT_OF_ORDER."""

    number: int
    sent_s: float
    done_s: float
    code: str
    rtt_s: float
    details: str = ""
    engines: Mapping[str, EngineOutcome] = field(default_factory=dict)
    served_by: str = ""
    stream: int = 0  # which stream carried it, counted from 1 (0 for unary protocols)
    reply: Any = None

    @property
    def answered(self) -> bool:
        return self.code == OK

    @property
    def partial(self) -> tuple[str, ...]:
        """`engine:code` of each engine that failed inside an answer (empty when whole)."""
        return tuple(f"{name}:{e.code}" for name, e in self.engines.items() if e.code != OK)

    def engine_ok(self, name: str) -> bool:
        engine = self.engines.get(name)
        return engine is not None and engine.code == OK


class _Lost(Exception):
    """No answer within the client's wait."""


class _Stream:
    """One DetectStream call fed one request at a time.

    With a client-side wait, a reader thread moves replies into a queue that can be waited on
    with a timeout; without one, the caller reads the call directly (no extra thread).
    """

    def __init__(
        self, stub: detection_pb2_grpc.DetectorStub, metadata: Sequence[tuple[str, str]], watched: bool
    ) -> None:
        self._outbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.call = stub.DetectStream(
            iter(self._outbox.get, None), timeout=STREAM_CALL_TIMEOUT_S, metadata=tuple(metadata) or None
        )
        self._replies: queue.SimpleQueue[object] | None = None
        if watched:
            self._replies = queue.SimpleQueue()
            threading.Thread(target=self._read, name="lockstep-reader", daemon=True).start()

    def _read(self) -> None:
        assert self._replies is not None
        try:
            for reply in self.call:
                self._replies.put(reply)
            self._replies.put(StopIteration())
        except grpc.RpcError as error:
            self._replies.put(error)

    def exchange(self, request: detection_pb2.DetectRequest, wait_s: float | None) -> object:
        """The reply; raises grpc.RpcError, StopIteration (stream ended) or _Lost."""
        self._outbox.put(request)
        if self._replies is None:
            return next(self.call)
        try:
            item = self._replies.get(timeout=wait_s)
        except queue.Empty:
            raise _Lost() from None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._outbox.put(None)
        self.call.cancel()


class LockstepClient:
    """One robot's traffic on one channel: `send` blocks until the frame's outcome is known.

    `wait_s` is how long the client itself waits for an answer (None: as long as the server
    takes; the per-frame deadline_ms in `options` bounds that on the server's side). Not for
    use from several threads at once: a robot has one frame in flight.
    """

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        protocol: str = "stream",
        options: FrameOptions | None = None,
        wait_s: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        clock: Callable[[], float] = time.monotonic,
        owns_channel: bool = False,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        self.channel = channel
        self.protocol = protocol
        self.options = options or FrameOptions()
        self.wait_s = wait_s
        self.metadata = tuple(metadata)
        self.clock = clock
        self.streams_opened = 0
        self._owns_channel = owns_channel
        self._stream: _Stream | None = None
        self._numbers = 0
        self._v1 = detection_pb2_grpc.DetectorStub(channel)
        self._legacy = robot_pb2_grpc.ObjectDetectionStub(channel)

    @classmethod
    def to(
        cls, address: str, *, channel_options: Sequence[tuple[str, Any]] = RECONNECT_OPTIONS, **kwargs: Any
    ) -> LockstepClient:
        """A client on its own plaintext channel to `address`, closed with the client."""
        channel = grpc.insecure_channel(address, options=list(channel_options))
        return cls(channel, owns_channel=True, **kwargs)

    def __enter__(self) -> LockstepClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, jpeg: bytes, number: int | None = None, source_id: str | None = None) -> Outcome:
        """Send one frame and wait for its outcome. Frames are numbered 1, 2, ... unless `number`
        is given; `source_id` names this frame's source instead of the options' one."""
        if number is None:
            self._numbers += 1
            number = self._numbers
        sent_s = self.clock()
        capture_us = round(sent_s * 1e6)
        stream = 0
        try:
            if self.protocol == "legacy":
                reply: Any = self._legacy.ObjectDetect(
                    self._legacy_request(number, capture_us, jpeg), **self._call_kwargs()
                )
            elif self.protocol == "unary":
                request = self._v1_request(number, capture_us, jpeg, source_id)
                reply = self._v1.Detect(request, **self._call_kwargs())
            else:
                stream, call = self._open_stream()
                reply = call.exchange(self._v1_request(number, capture_us, jpeg, source_id), self.wait_s)
        except grpc.RpcError as error:
            self.reset()
            return self._failed(number, sent_s, error.code().name, error.details() or "", stream)
        except StopIteration:
            self.reset()
            return self._failed(number, sent_s, ENDED, "the server ended the stream", stream)
        except _Lost:
            self.reset()
            return self._failed(number, sent_s, LOST, f"no answer within {self.wait_s} s", stream)
        return self._answered(number, sent_s, reply, stream)

    def reset(self) -> None:
        """Hang up the stream (if any); the next `send` opens a new one."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def close(self) -> None:
        self.reset()
        if self._owns_channel:
            self.channel.close()

    # -- requests and replies -------------------------------------------------------------------

    def _call_kwargs(self) -> dict[str, Any]:
        return {"timeout": self.wait_s, "metadata": self.metadata or None}

    def _open_stream(self) -> tuple[int, _Stream]:
        if self._stream is None:
            self._stream = _Stream(self._v1, self.metadata, watched=self.wait_s is not None)
            self.streams_opened += 1
        return self.streams_opened, self._stream

    def _v1_request(
        self, number: int, capture_us: int, jpeg: bytes, source_id: str | None
    ) -> detection_pb2.DetectRequest:
        o = self.options
        return detection_pb2.DetectRequest(
            frame=detection_pb2.Frame(
                number=number, capture_time_us=capture_us, jpeg=jpeg, source_id=source_id or o.source_id
            ),
            engines=list(o.engines),
            max_results=o.max_results,
            min_confidence=o.min_confidence,
            classes=list(o.classes),
            deadline_ms=o.deadline_ms,
        )

    def _legacy_request(self, number: int, capture_us: int, jpeg: bytes) -> robot_pb2.ObjectDetectionRequest:
        wants = set(self.options.engines) or {"face", "yolo"}
        return robot_pb2.ObjectDetectionRequest(
            user_id=self.options.user_id,
            frame=robot_pb2.VideoFrame(number=number & 0x7FFFFFFF, timestamp=capture_us, img=jpeg),
            wantface=int("face" in wants),
            wantyolo=int("yolo" in wants),
            max_results=self.options.max_results,
        )

    def _failed(self, number: int, sent_s: float, code: str, details: str, stream: int) -> Outcome:
        done_s = self.clock()
        return Outcome(number, sent_s, done_s, code, done_s - sent_s, details, stream=stream)

    def _answered(self, number: int, sent_s: float, reply: Any, stream: int) -> Outcome:
        done_s = self.clock()
        if isinstance(reply, robot_pb2.ObjectDetectionResponse):
            echoed_us, answered_number, engines, served_by = reply.timestamp, reply.number, {}, reply.name
        else:
            echoed_us, answered_number, served_by = (
                reply.capture_time_us,
                reply.frame_number,
                reply.served_by.hostname,
            )
            engines = {
                e.engine: EngineOutcome(
                    e.code or (OK if e.ok else "ERROR"), e.latency_ms, e.served_by.hostname, e.model_version
                )
                for e in reply.engines
            }
        expected = number & 0x7FFFFFFF if self.protocol == "legacy" else number  # legacy: int32
        if answered_number != expected:
            self.reset()
            details = f"sent frame {number}, got the answer for frame {answered_number}"
            return Outcome(number, sent_s, done_s, OUT_OF_ORDER, done_s - sent_s, details, stream=stream)
        rtt_s = done_s - echoed_us / 1e6
        return Outcome(number, sent_s, done_s, OK, rtt_s, "", engines, served_by, stream, reply)


@dataclass
class Backoff:
    """Waits between tries after the mesh failed: `first_s`, doubling up to `max_s`, reset on success."""

    first_s: float = 0.1
    max_s: float = 2.0
    _next_s: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.max_s:
            raise ValueError("need 0 < first_s <= max_s")
        self._next_s = self.first_s

    def next_s(self) -> float:
        wait_s, self._next_s = self._next_s, min(self._next_s * 2.0, self.max_s)
        return wait_s

    def reset(self) -> None:
        self._next_s = self.first_s


@dataclass
class Pacer:
    """At most `fps` frames a second, like a camera: `wait` sleeps until the next frame is due.

    A robot that was slower than its camera sends the next frame at once (the phase resets),
    it does not catch up with a burst. `fps` 0 sends flat out.
    """

    fps: float
    clock: Callable[[], float] = time.monotonic
    _due_s: float = field(default=0.0, init=False)

    def wait(self, stop: threading.Event) -> bool:
        """True when the next frame may go; False when `stop` was set (before or meanwhile)."""
        if self.fps > 0:
            now = self.clock()
            if self._due_s > now and stop.wait(self._due_s - now):
                return False
            self._due_s = max(now, self._due_s) + 1.0 / self.fps
        return not stop.is_set()
