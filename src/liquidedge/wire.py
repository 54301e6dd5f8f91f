"""Request bodies that are not valid protobuf: INVALID_ARGUMENT with a reason, in both server kinds.

Left to grpcio, a body that does not parse is answered INTERNAL ("Exception deserializing
request!") by the thread-pool server and UNKNOWN by the asyncio one: a server fault in both
cases, for what is the client's mistake. These interceptors make the deserializer hand back an
`Unparsable` marker instead, and refuse the call (or end the stream) with INVALID_ARGUMENT
before any servicer sees it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from liquidedge.security import same_shape_handler


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


def _with_tolerant_parser(handler: grpc.RpcMethodHandler, method: str, behaviour: Callable[..., Any]) -> Any:
    replacement = same_shape_handler(handler, behaviour)
    return replacement._replace(request_deserializer=_tolerant(handler.request_deserializer, method))


def reject_unparsable(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    """The thread-pool server's handler, refusing unparsable requests with INVALID_ARGUMENT."""
    original = _behaviour(handler)
    if not handler.request_streaming:

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, Unparsable):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
            return original(request, context)

        return _with_tolerant_parser(handler, method, unary)

    def checked(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        for request in requests:
            if isinstance(request, Unparsable):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
            yield request

    def streaming(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        return original(checked(requests, context), context)

    return _with_tolerant_parser(handler, method, streaming)


def reject_unparsable_aio(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    """The asyncio server's twin of `reject_unparsable` (grpc.aio tells generators from coroutines)."""
    original = _behaviour(handler)

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

        return _with_tolerant_parser(handler, method, replies)

    async def reply(request: Any, context: grpc.aio.ServicerContext) -> Any:
        result = original(await admit(request, context), context)
        return await result if isinstance(result, Awaitable) else result

    return _with_tolerant_parser(handler, method, reply)


class RejectUnparsableInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return reject_unparsable(handler, handler_call_details.method or "")


class AioRejectUnparsableInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return reject_unparsable_aio(handler, handler_call_details.method or "")
