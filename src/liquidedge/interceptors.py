"""Server interceptors as handler rewrites, written once for both kinds of gRPC server.

A rule (bearer tokens, tolerant parsing) is a function from the handler grpc resolved for a
call, and the call's details, to the handler that should run instead. The two classes below
apply such a rule on a thread-pool server and on a `grpc.aio` server; the rule itself is
written once. Where a rule must answer the call itself, it asks for the handler shape of its
server kind (`refusing_handler(..., aio=...)`): a `grpc.aio` server needs coroutines.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

# (the resolved handler, the call's details) -> the handler to run instead
HandlerRewrite = Callable[[grpc.RpcMethodHandler, grpc.HandlerCallDetails], grpc.RpcMethodHandler]


def same_shape_handler(
    handler: grpc.RpcMethodHandler, behaviour: Callable[..., Any]
) -> grpc.RpcMethodHandler:
    """A handler with `handler`'s streaming shape and serialisers that runs `behaviour` instead."""
    kinds: dict[tuple[bool, bool], Callable[..., grpc.RpcMethodHandler]] = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(handler.request_streaming, handler.response_streaming)]
    return make(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def refusing_handler(
    handler: grpc.RpcMethodHandler, code: grpc.StatusCode, details: str, *, aio: bool
) -> grpc.RpcMethodHandler:
    """A handler of `handler`'s shape that ends every call with `code` before any servicer runs."""
    if aio:

        async def refuse_async(_request: Any, context: grpc.aio.ServicerContext) -> None:
            await context.abort(code, details)

        return same_shape_handler(handler, refuse_async)

    def refuse(_request: Any, context: grpc.ServicerContext) -> None:
        context.abort(code, details)

    return same_shape_handler(handler, refuse)


class HandlerInterceptor(grpc.ServerInterceptor):
    """Applies a `HandlerRewrite` on a thread-pool server."""

    def __init__(self, rewrite: HandlerRewrite) -> None:
        self.rewrite = rewrite

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        return None if handler is None else self.rewrite(handler, handler_call_details)


class AioHandlerInterceptor(grpc.aio.ServerInterceptor):
    """Applies a `HandlerRewrite` on a `grpc.aio` server."""

    def __init__(self, rewrite: HandlerRewrite) -> None:
        self.rewrite = rewrite

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        return None if handler is None else self.rewrite(handler, handler_call_details)
