"""`RequestGuard` for asyncio servicers: the same admission, status mapping and metrics.

`RequestGuard` is a synchronous context manager that calls `context.abort`, which on a
`grpc.aio` context is a coroutine and so cannot be called from it. `guarded` hands the guard a
stand-in context whose `abort` records the decision; the guard still admits, counts, times and
maps errors exactly as for the thread-pool servers, and the real abort is awaited afterwards.
A client that goes away (the handler task is cancelled) is counted as CANCELLED, as it is there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from liquidedge.status import RequestGuard

T = TypeVar("T")


class _DeferredAbort(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _ClientGone(Exception):
    """The call was cancelled; an Exception (CancelledError is not) so the guard counts it."""


class _GuardContext:
    """What `RequestGuard` uses of a context (`abort`, `is_active`), for an aio call."""

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self.context = context
        self.gone = False

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise _DeferredAbort(code, details)

    def is_active(self) -> bool:
        return not (self.gone or self.context.cancelled())


async def guarded(
    guard: RequestGuard, context: grpc.aio.ServicerContext, method: str, work: Callable[[], Awaitable[T]]
) -> T:
    """Run one request's `work` under `guard`; abort the call with the guard's code if it fails."""
    stand_in = _GuardContext(context)
    try:
        with guard(stand_in, method):  # type: ignore[arg-type]
            try:
                return await work()
            except asyncio.CancelledError:
                stand_in.gone = True
                raise _ClientGone(method) from None
    except _DeferredAbort as refusal:
        await context.abort(refusal.code, refusal.details)
        raise  # not reached: abort raises
    except _ClientGone:
        raise asyncio.CancelledError from None
