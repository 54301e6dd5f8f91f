"""One place that turns what went wrong into a gRPC status code, and counts it.

Servicers wrap each request in `guard`: a client's mistake becomes INVALID_ARGUMENT,
RESOURCE_EXHAUSTED or NOT_FOUND with a message the user can act on; an unexpected failure
is logged with its traceback and reported as INTERNAL, never as UNKNOWN.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc

from liquidedge.errors import (
    BadImageError,
    BadRequestError,
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
)


class AbortError(Exception):
    """Raised by code that already knows the status to answer with (e.g. all engines down)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def status_for(error: Exception) -> grpc.StatusCode:
    if isinstance(error, AbortError):
        return error.code
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL


@contextmanager
def guard(context: grpc.ServicerContext, metrics: ServiceMetrics, method: str) -> Iterator[None]:
    """Run one request: count it, time it, and abort with the right code if it fails."""
    start = time.perf_counter()
    code = grpc.StatusCode.OK
    try:
        with metrics.frame_in_flight():
            yield
    except (
        AbortError,
        BadImageError,
        BadRequestError,
        FrameTooLargeError,
        OverloadedError,
        UnknownUserError,
    ) as e:
        code = status_for(e)
        log.info("request refused", extra={"method": method, "code": code.name, "reason": str(e)})
        context.abort(code, str(e))
    except Exception as error:
        if not context.is_active():
            code = grpc.StatusCode.CANCELLED
            raise
        code = grpc.StatusCode.INTERNAL
        log.exception("request failed", extra={"method": method})
        context.abort(code, f"internal error: {type(error).__name__}: {error}")
    finally:
        metrics.count_request(method, code.name, time.perf_counter() - start)
