"""Request bodies that are not valid protobuf: INVALID_ARGUMENT with a reason, in both server kinds.

Left to grpcio, a body that does not parse is answered INTERNAL ("Exception deserializing
request!") by the thread-pool server and UNKNOWN by the asyncio one: a server fault in both
cases, for what is the client's mistake. These handler rewrites (`liquidedge.interceptors`)
make the deserializer hand back an `Unparsable` marker instead, and refuse the call (or end
the stream) with INVALID_ARGUMENT before any servicer sees it. The marker and the parser are
shared; only the wrappers differ, because `grpc.aio` wants coroutines and async generators.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from liquidedge.interceptors import same_shape_handler


@dataclass(frozen=True)
class Unparsable:
    """Stands in for a request message whose bytes did not parse."""

    reason: str


def _tolerant(deserialize: Callable[[bytes], Any], method: str) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as error:  # protobuf's DecodeError, or anything else a parser raises
            return Unparsable(f"the request to {method} is not a valid protobuf message ({error})")

    return parse


def _behaviour(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    return handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream


def reject_unparsable(
    handler: grpc.RpcMethodHandler, details: grpc.HandlerCallDetails, *, aio: bool
) -> grpc.RpcMethodHandler:
    """`handler`, refusing requests that do not parse with INVALID_ARGUMENT before it runs.

    A handler rewrite (`liquidedge.interceptors`) for a thread-pool server, or with `aio` for
    a `grpc.aio` server.
    """
    if handler.request_deserializer is None:
        return handler
    checked = (_checked_aio if aio else _checked)(handler, _behaviour(handler))
    parse = _tolerant(handler.request_deserializer, details.method or "")
    return same_shape_handler(handler, checked)._replace(request_deserializer=parse)


def _checked(handler: grpc.RpcMethodHandler, original: Callable[..., Any]) -> Callable[..., Any]:
    """The thread-pool server's behaviour: plain functions and iterators."""
    if not handler.request_streaming:

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, Unparsable):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
            return original(request, context)

        return unary

    def checked(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        for request in requests:
            if isinstance(request, Unparsable):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
            yield request

    def streaming(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        return original(checked(requests, context), context)

    return streaming


def _checked_aio(handler: grpc.RpcMethodHandler, original: Callable[..., Any]) -> Callable[..., Any]:
    """The asyncio server's behaviour: grpc.aio tells async generators from coroutines."""

    async def checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, Unparsable):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
            yield request

    async def admit(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if handler.request_streaming:
            return checked(request, context)
        if isinstance(request, Unparsable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
        return request

    if inspect.isasyncgenfunction(original):

        async def replies(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for reply in original(await admit(request, context), context):
                yield reply

        return replies

    async def reply(request: Any, context: grpc.aio.ServicerContext) -> Any:
        result = original(await admit(request, context), context)
        return await result if isinstance(result, Awaitable) else result

    return reply
