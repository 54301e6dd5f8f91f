"""A robot as the mesh sees one: a lock-step v1 stream, one frame at a time, each with a deadline.

The next frame goes out only after the answer to the last (or after giving up on it), so at
most one frame is ever in flight: that is what "lost at most the frames in flight" is measured
against. Like a robot it gives a frame `deadline_s` (sent as the per-frame `deadline_ms`) plus a
little grace for the network, then counts it lost and reopens the stream; a stream that breaks
is reopened with a capped exponential backoff. Every frame's fate is recorded with times.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc

from liquidedge.v1 import detection_pb2, detection_pb2_grpc

# A robot reconnects within about a second of the aggregator coming back, not after gRPC's
# default backoff of up to two minutes.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 0.5
STREAM_ENDED = "ENDED"


@dataclass(frozen=True)
class FrameResult:
    """What happened to one frame. `outcome` is ok, partial, lost or failed:<CODE>."""

    number: int
    sent_s: float
    done_s: float
    outcome: str
    engines: dict[str, str] = field(default_factory=dict)
    served: dict[str, str] = field(default_factory=dict)
    stream: int = 0

    @property
    def rtt_s(self) -> float:
        return self.done_s - self.sent_s

    @property
    def answered(self) -> bool:
        return self.outcome in {"ok", "partial"}

    def ok(self, engine: str) -> bool:
        return self.engines.get(engine) == "OK"


class _Stream:
    """One DetectStream call: requests fed from a queue, replies (or the error) read into another."""

    def __init__(self, stub: detection_pb2_grpc.DetectorStub, call_timeout_s: float) -> None:
        self.requests: queue.Queue[detection_pb2.DetectRequest | None] = queue.Queue()
        self.replies: queue.Queue[detection_pb2.DetectResponse | grpc.RpcError | str] = queue.Queue()
        self.call = stub.DetectStream(self._requests(), timeout=call_timeout_s)
        self._reader = threading.Thread(target=self._read, name="robot-reader", daemon=True)
        self._reader.start()

    def _requests(self) -> Iterator[detection_pb2.DetectRequest]:
        while (request := self.requests.get()) is not None:
            yield request

    def _read(self) -> None:
        try:
            for reply in self.call:
                self.replies.put(reply)
            self.replies.put(STREAM_ENDED)  # the server ended the stream without an error
        except grpc.RpcError as error:
            self.replies.put(error)

    def close(self) -> None:
        self.requests.put(None)
        self.call.cancel()
        self._reader.join(timeout=2.0)


class LockstepRobot:
    """Streams one JPEG over and over from a background thread until stopped or a bound is hit."""

    def __init__(
        self,
        address: str,
        jpeg: bytes,
        *,
        deadline_s: float = 1.5,
        grace_s: float = 0.5,
        period_s: float = 0.1,
        max_frames: int = 2000,
        max_s: float = 90.0,
    ) -> None:
        self.address = address
        self.jpeg = jpeg
        self.deadline_s = deadline_s
        self.grace_s = grace_s
        self.period_s = period_s
        self.max_frames = max_frames
        self.max_s = max_s
        self._results: list[FrameResult] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="robot", daemon=True)

    @property
    def results(self) -> list[FrameResult]:
        with self._lock:
            return list(self._results)

    def start(self) -> LockstepRobot:
        self._thread.start()
        return self

    def stop(self) -> list[FrameResult]:
        self._stop.set()
        self._thread.join(timeout=self.deadline_s + self.grace_s + 5.0)
        return self.results

    def __enter__(self) -> LockstepRobot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(
        self, count: int, predicate: Callable[[FrameResult], bool] | None = None, timeout_s: float = 30.0
    ) -> list[FrameResult]:
        """Block until `count` frames (matching `predicate`, if given) are recorded, or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._thread.is_alive():
            done = [r for r in self.results if predicate is None or predicate(r)]
            if len(done) >= count:
                return done
            time.sleep(0.02)
        raise TimeoutError(f"robot: fewer than {count} matching frames within {timeout_s:.0f}s")

    def _request(self, number: int) -> detection_pb2.DetectRequest:
        frame = detection_pb2.Frame(
            number=number, capture_time_us=time.time_ns() // 1000, jpeg=self.jpeg, source_id="fault-robot"
        )
        return detection_pb2.DetectRequest(frame=frame, deadline_ms=int(self.deadline_s * 1000))

    def _run(self) -> None:
        with grpc.insecure_channel(self.address, options=CHANNEL_OPTIONS) as channel:
            stub = detection_pb2_grpc.DetectorStub(channel)
            stream: _Stream | None = None
            generation = 0
            backoff_s = BACKOFF_FIRST_S
            end = time.monotonic() + self.max_s
            try:
                for number in range(1, self.max_frames + 1):
                    if self._stop.is_set() or time.monotonic() > end:
                        break
                    if stream is None:
                        stream = _Stream(stub, call_timeout_s=self.max_s + 10.0)
                        generation += 1
                    sent = time.monotonic()
                    stream.requests.put(self._request(number))
                    item: object = None  # None: no answer in time
                    with contextlib.suppress(queue.Empty):
                        item = stream.replies.get(timeout=self.deadline_s + self.grace_s)
                    result = self._result(number, sent, item, generation)
                    with self._lock:
                        self._results.append(result)
                    if result.answered:
                        backoff_s = BACKOFF_FIRST_S
                        self._stop.wait(max(0.0, self.period_s - result.rtt_s))
                    else:
                        # A broken or silent stream: hang up and open a new one after a pause.
                        stream.close()
                        stream = None
                        self._stop.wait(backoff_s)
                        backoff_s = min(BACKOFF_MAX_S, backoff_s * 2)
            finally:
                if stream is not None:
                    stream.close()

    @staticmethod
    def _result(number: int, sent: float, item: object, generation: int) -> FrameResult:
        done = time.monotonic()
        if isinstance(item, detection_pb2.DetectResponse):
            engines = {e.engine: e.code for e in item.engines}
            served = {e.engine: e.served_by.hostname for e in item.engines if e.ok}
            outcome = "ok" if engines and all(code == "OK" for code in engines.values()) else "partial"
            if item.frame_number != number:
                outcome = f"failed:OUT_OF_ORDER({item.frame_number})"
            return FrameResult(number, sent, done, outcome, engines, served, generation)
        if isinstance(item, grpc.RpcError):
            return FrameResult(number, sent, done, f"failed:{item.code().name}", stream=generation)
        if item is None:
            return FrameResult(number, sent, done, "lost", stream=generation)
        return FrameResult(number, sent, done, f"failed:{item}", stream=generation)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


def max_gap_s(
    results: list[FrameResult], good: Callable[[FrameResult], bool], start_s: float, end_s: float
) -> float:
    """Longest wait between consecutive `good` answers across a fault at `start_s`, up to `end_s`.

    Starts from the last good answer before the fault, so the spell the robot went blind is
    counted whole; with no good answer after the fault, the gap runs to `end_s`.
    """
    times = sorted(r.done_s for r in results if good(r) and r.done_s <= end_s)
    before = [t for t in times if t <= start_s][-1:] or [start_s]
    after = [t for t in times if t > start_s] or [end_s]
    marks = [*before, *after]
    return max(b - a for a, b in itertools.pairwise(marks))
