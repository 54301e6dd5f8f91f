"""Bearer tokens on an asyncio server: the lead's `BearerTokenInterceptor` decides, aio refuses.

`grpc.aio` takes `grpc.aio.ServerInterceptor`s, whose `intercept_service` is a coroutine and
whose handlers must be coroutines. Rather than a second copy of the token check, the
thread-pool interceptor is asked about the already-resolved handler: when it hands back a
different handler, the call is refused here with the same code and words.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from liquidedge.security import BearerTokenInterceptor, same_shape_handler

log = logging.getLogger(__name__)

UNAUTHENTICATED_DETAILS = "missing or invalid bearer token (send 'authorization: Bearer <token>')"


def _refusing_handler(handler: grpc.RpcMethodHandler, details: str) -> grpc.RpcMethodHandler:
    """An asyncio handler of the same shape as `handler` that refuses the call with UNAUTHENTICATED."""

    async def refuse(_request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, details)

    return same_shape_handler(handler, refuse)


class AioBearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """The same rule as `BearerTokenInterceptor` (health, and legacy if exempt, stay open)."""

    def __init__(self, check: BearerTokenInterceptor) -> None:
        self.check = check

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        # The sync check is pure (metadata and method name in, handler out) and cheap.
        decided = self.check.intercept_service(lambda _details: handler, handler_call_details)
        if decided is handler:
            return handler
        return _refusing_handler(handler, UNAUTHENTICATED_DETAILS)


def aio_interceptors(interceptors: Sequence[grpc.ServerInterceptor]) -> list[grpc.aio.ServerInterceptor]:
    """The asyncio twins of the thread-pool server's interceptors; refuse any we cannot translate."""
    translated: list[grpc.aio.ServerInterceptor] = []
    for interceptor in interceptors:
        if isinstance(interceptor, grpc.aio.ServerInterceptor):
            translated.append(interceptor)
        elif isinstance(interceptor, BearerTokenInterceptor):
            translated.append(AioBearerTokenInterceptor(interceptor))
        else:
            raise TypeError(f"no asyncio twin for server interceptor {type(interceptor).__name__}")
    return translated
