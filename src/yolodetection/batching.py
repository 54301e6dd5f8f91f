"""Dynamic batching: many concurrent `detect` calls, one forward pass.

A GPU answering one frame at a time sits mostly idle; a batch of 32 costs little more than a
batch of 1. The batcher holds each request for at most `max_queue_delay_ms` (counted from
the oldest waiting request's arrival) or until `max_batch` requests wait, runs them through
`engine.detect_batch` together and hands every caller its own answer. A request whose
deadline has passed while it waited is answered with `DeadlineExpiredError` without being
run, so an overloaded server spends no model time on answers nobody will read.

It has the same `detect(image_bgr, deadline=...)` surface as an engine, so a servicer hosts
it unchanged. Plain threads, no gRPC: `DeadlineExpiredError` is a `TimeoutError` and a full
queue raises `liquidedge.errors.OverloadedError`, which the servicer maps to status codes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from liquidedge.detections import Detections
from liquidedge.errors import DeadlineExpiredError, EngineUnavailableError, OverloadedError

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_CPU = 8
DEFAULT_MAX_BATCH_GPU = 32
DEFAULT_MAX_QUEUE_DELAY_MS = 2.0
DEFAULT_MAX_QUEUE = 256


class BatchEngine(Protocol):
    name: str

    def detect_batch(self, images_bgr: Sequence[np.ndarray]) -> list[Detections]: ...


class BatcherClosedError(EngineUnavailableError):
    """The batcher is shutting down and takes no more work."""


@dataclass(frozen=True)
class BatchingSettings:
    """max_batch 1 turns batching off (every request runs alone, still in arrival order)."""

    max_batch: int = DEFAULT_MAX_BATCH_CPU
    max_queue_delay_ms: float = DEFAULT_MAX_QUEUE_DELAY_MS
    max_queue: int = DEFAULT_MAX_QUEUE
    workers: int = 1

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")
        if not 0.0 <= self.max_queue_delay_ms <= 1000.0:
            raise ValueError(f"max_queue_delay_ms must be in [0, 1000], got {self.max_queue_delay_ms}")
        if self.max_queue < self.max_batch:
            raise ValueError(f"max_queue ({self.max_queue}) must be at least max_batch ({self.max_batch})")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")


@dataclass(frozen=True)
class BatchStats:
    batches: int
    frames: int
    expired: int
    largest_batch: int

    @property
    def mean_batch(self) -> float:
        return self.frames / self.batches if self.batches else 0.0


@dataclass
class _Request:
    image_bgr: np.ndarray
    deadline: float | None
    arrived: float
    future: Future[Detections]


_STOP = object()


class DynamicBatcher:
    """Wraps an engine with `detect_batch`; thread-safe; `close()` (or `with`) stops it."""

    def __init__(
        self,
        engine: BatchEngine,
        settings: BatchingSettings = BatchingSettings(),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.name = engine.name
        self.labels = getattr(engine, "labels", ())
        self.settings = settings
        self._clock = clock
        self._queue: queue.Queue[_Request | object] = queue.Queue(settings.max_queue)
        self._stats_lock = threading.Lock()
        self._batches = self._frames = self._expired = self._largest = 0
        self._closed = threading.Event()
        self._workers = [
            threading.Thread(target=self._work, name=f"{self.name}-batcher-{i}", daemon=True)
            for i in range(settings.workers)
        ]
        for worker in self._workers:
            worker.start()

    # The engine surface -------------------------------------------------------------

    def warm_up(self) -> None:
        warm_up = getattr(self.engine, "warm_up", None)
        if warm_up is not None:
            warm_up()

    def detect(self, image_bgr: np.ndarray, deadline: float | None = None) -> Detections:
        """Queue one frame and wait for its answer. `deadline` is absolute, on the batcher's clock."""
        future = self.submit(image_bgr, deadline)
        return future.result()

    def detect_batch(self, images_bgr: Sequence[np.ndarray]) -> list[Detections]:
        futures = [self.submit(image) for image in images_bgr]
        return [future.result() for future in futures]

    def submit(self, image_bgr: np.ndarray, deadline: float | None = None) -> Future[Detections]:
        if self._closed.is_set():
            raise BatcherClosedError(f"the {self.name} batcher is shut down")
        future: Future[Detections] = Future()
        request = _Request(image_bgr, deadline, self._clock(), future)
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            raise OverloadedError(
                f"{self.settings.max_queue} {self.name} frames already waiting; retry later"
            ) from None
        return future

    def stats(self) -> BatchStats:
        with self._stats_lock:
            return BatchStats(self._batches, self._frames, self._expired, self._largest)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop taking work, finish what was queued, join the workers."""
        if self._closed.is_set():
            return
        self._closed.set()
        for _ in self._workers:
            self._queue.put(_STOP)
        for worker in self._workers:
            worker.join(timeout_s)
        # A submit that raced with close() may have queued behind the stop markers.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Request) and item.future.set_running_or_notify_cancel():
                item.future.set_exception(BatcherClosedError(f"the {self.name} batcher shut down"))

    def __enter__(self) -> DynamicBatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The worker ---------------------------------------------------------------------

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        """Collect up to max_batch requests, waiting until the oldest has waited the delay.

        The window also closes at the earliest deadline in the batch, so no frame is held past
        its budget just to wait for company.
        """
        batch = [first]
        window_ends = first.arrived + self.settings.max_queue_delay_ms / 1000.0
        if first.deadline is not None:
            window_ends = min(window_ends, first.deadline)
        while len(batch) < self.settings.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = window_ends - self._clock()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is _STOP:
                return batch, True
            batch.append(item)  # type: ignore[arg-type]
            if item.deadline is not None:  # type: ignore[union-attr]
                window_ends = min(window_ends, item.deadline)  # type: ignore[union-attr]
        return batch, False

    def _live(self, batch: list[_Request]) -> list[_Request]:
        """Drop cancelled requests and answer expired ones before any model time is spent."""
        now = self._clock()
        live = []
        for request in batch:
            if request.deadline is not None and now >= request.deadline:
                if request.future.set_running_or_notify_cancel():
                    waited_ms = (now - request.arrived) * 1000.0
                    request.future.set_exception(
                        DeadlineExpiredError(f"deadline passed after {waited_ms:.1f} ms in the batch queue")
                    )
                with self._stats_lock:
                    self._expired += 1
            elif request.future.set_running_or_notify_cancel():
                live.append(request)
        return live

    def _run(self, batch: list[_Request]) -> None:
        live = self._live(batch)
        if not live:
            return
        try:
            answers = self.engine.detect_batch([request.image_bgr for request in live])
            if len(answers) != len(live):
                raise RuntimeError(f"engine answered {len(answers)} frames for a batch of {len(live)}")
        except BaseException as error:
            log.exception("batch of %d failed", len(live))
            for request in live:
                request.future.set_exception(error)
            return
        with self._stats_lock:
            self._batches += 1
            self._frames += len(live)
            self._largest = max(self._largest, len(live))
        for request, answer in zip(live, answers, strict=True):
            request.future.set_result(answer)

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stop = self._gather(first)  # type: ignore[arg-type]
            self._run(batch)
            if stop:
                return
