"""One place that turns what went wrong into a gRPC status code, counts it, and sheds load.

Servicers wrap each request (each frame, in a stream) in a `RequestGuard` (`with guard(...)` on a
thread-pool server, `async with guard.aio(...)` on an asyncio one): a client's mistake
becomes INVALID_ARGUMENT, RESOURCE_EXHAUSTED or NOT_FOUND with a message the user can act on;
an unexpected failure is logged with its traceback and reported as INTERNAL, never UNKNOWN.
The guard also bounds the frames in flight: past the limit a frame is refused at once with
RESOURCE_EXHAUSTED instead of queueing without end, so admitted frames keep a bounded latency.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import grpc

from liquidedge.errors import (
    BadImageError,
    BadRequestError,
    DeadlineExpiredError,
    EngineUnavailableError,
    FrameTooLargeError,
    OverloadedError,
    UnknownUserError,
)
from liquidedge.metrics import ServiceMetrics

log = logging.getLogger(__name__)

_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (FrameTooLargeError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (OverloadedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (BadImageError, grpc.StatusCode.INVALID_ARGUMENT),
    (BadRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownUserError, grpc.StatusCode.NOT_FOUND),
    (DeadlineExpiredError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (EngineUnavailableError, grpc.StatusCode.UNAVAILABLE),
)


class AbortError(Exception):
    """Raised by code that already knows the status to answer with (e.g. all engines down)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


_EXPECTED = (AbortError, *(kind for kind, _code in _CODES))


# What an open stream gets at its next frame once the server drains (see RequestGuard.begin_drain).
DRAINING_DETAILS = "server shutting down: reopen the stream"


StatusTable = tuple[tuple[type[Exception], grpc.StatusCode], ...]


def status_for(error: Exception, codes: StatusTable = _CODES) -> grpc.StatusCode:
    """The code for `error`: the first kind in `codes` it is (subclasses first), else INTERNAL.

    A service with errors of its own (the gallery's enrolment refusals) passes its own table.
    """
    if isinstance(error, AbortError):
        return error.code
    for kind, code in codes:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL


class RequestGuard:
    """Admission, status mapping and accounting for every frame a servicer handles.

    `max_in_flight` 0 means unbounded. The limit is checked without blocking: a frame that
    cannot start now is refused now, which a robot treats as "drop this frame, send the next".
    """

    def __init__(self, metrics: ServiceMetrics, max_in_flight: int = 0) -> None:
        if max_in_flight < 0:
            raise ValueError(f"max_in_flight must be >= 0, got {max_in_flight}")
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self._slots = threading.BoundedSemaphore(max_in_flight) if max_in_flight else None
        self.draining = threading.Event()

    def begin_drain(self) -> None:
        """On SIGTERM: finish frames in flight, but end open streams at their next frame."""
        self.draining.set()

    @contextmanager
    def _admitted(self) -> Iterator[None]:
        if self._slots is None:
            yield
            return
        if not self._slots.acquire(blocking=False):
            self.metrics.shed.labels(self.metrics.service).inc()
            raise OverloadedError(
                f"server busy: {self.max_in_flight} frames already in flight; drop this frame and send the next"
            )
        try:
            yield
        finally:
            self._slots.release()

    @contextmanager
    def _handled(self, method: str, client_gone: Callable[[], bool]) -> Iterator[None]:
        """Admit, count and time one request; turn what it raises into an `AbortError` with its code.

        Shared by both server kinds: only how the call is then aborted differs.
        """
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            with self._admitted(), self.metrics.frame_in_flight():
                yield
        except _EXPECTED as error:
            code = status_for(error)
            log.info("request refused", extra={"method": method, "code": code.name, "reason": str(error)})
            raise AbortError(code, str(error)) from None
        except asyncio.CancelledError:  # an asyncio call whose client went away
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception as error:
            if client_gone():
                code = grpc.StatusCode.CANCELLED
                raise
            code = grpc.StatusCode.INTERNAL
            log.exception("request failed", extra={"method": method})
            raise AbortError(code, f"internal error: {type(error).__name__}: {error}") from None
        finally:
            self.metrics.count_request(method, code.name, time.perf_counter() - start)

    @contextmanager
    def __call__(self, context: grpc.ServicerContext, method: str) -> Iterator[None]:
        """Run one request on a thread-pool server; abort the call with the right code if it fails."""
        try:
            with self._handled(method, lambda: not context.is_active()):
                yield
        except AbortError as refusal:
            context.abort(refusal.code, refusal.details)

    @asynccontextmanager
    async def aio(self, context: grpc.aio.ServicerContext, method: str) -> AsyncIterator[None]:
        """The same for a `grpc.aio` server, whose `abort` is a coroutine."""
        try:
            with self._handled(method, context.cancelled):
                yield
        except AbortError as refusal:
            await context.abort(refusal.code, refusal.details)
