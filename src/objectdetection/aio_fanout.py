"""The asyncio fan-out: every engine at once as coroutines on the server's loop, no threads.

Balancing, budgets, retries and outlier ejection stay with each engine's `ReplicaPool` (its
`next_attempt`, `record` and health probes are shared with the thread-pool path); only the
calls differ: each replica gets a `grpc.aio` channel of its own, keyed by its address. A client
that goes away cancels the handler's task, and with it every engine call still in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import grpc

from liquidedge.messages import DetectOptions
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from objectdetection.channels import channel_options
from objectdetection.fanout import EngineOutcome, FanOut, answered_outcome, engine_request
from objectdetection.replicas import RETRYABLE, AttemptError, ReplicaPool

log = logging.getLogger(__name__)


def aio_channel_factory(
    max_message_bytes: int,
    credentials: grpc.ChannelCredentials | None = None,
    server_name: str = "",
) -> Callable[[str], grpc.aio.Channel]:
    """Like `channels.channel_factory`, with the same options, for `grpc.aio` channels."""
    options = channel_options(max_message_bytes)
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))

    def make(address: str) -> grpc.aio.Channel:
        if credentials is None:
            return grpc.aio.insecure_channel(address, options=options)
        return grpc.aio.secure_channel(address, credentials, options=options)

    return make


class AsyncReplicaCaller:
    """The asyncio call path of one engine's `ReplicaPool`. Used on the loop thread only."""

    def __init__(self, pool: ReplicaPool, make_channel: Callable[[str], grpc.aio.Channel]) -> None:
        self.pool = pool
        self.make_channel = make_channel
        self._channels: dict[str, tuple[grpc.aio.Channel, detection_pb2_grpc.DetectorStub]] = {}

    def _stub(self, address: str) -> detection_pb2_grpc.DetectorStub:
        entry = self._channels.get(address)
        if entry is None:
            channel = self.make_channel(address)
            entry = (channel, detection_pb2_grpc.DetectorStub(channel))
            self._channels[address] = entry
            self._forget_gone()
        return entry[1]

    def _forget_gone(self) -> None:
        """Close channels to replicas the pool no longer has (DNS moved on)."""
        live = {replica.address for replica in self.pool.replicas}
        for address in [a for a in self._channels if a not in live]:
            channel, _stub = self._channels.pop(address)
            asyncio.get_running_loop().create_task(channel.close())

    async def detect(
        self, request: detection_pb2.DetectRequest, deadline: float
    ) -> tuple[detection_pb2.DetectResponse, str]:
        """Run the request on one replica, retrying on others while the deadline allows."""
        tried: list[str] = []
        last: AttemptError | None = None
        for attempt in range(self.pool.policy.max_attempts):
            step = self.pool.next_attempt(attempt, deadline, tried, cancelled=False)
            if step is None:
                break
            replica, timeout_s = step
            try:
                reply = await self._stub(replica.address).Detect(
                    request, timeout=timeout_s, metadata=self.pool.metadata or None
                )
            except grpc.aio.AioRpcError as error:
                code = error.code()
                self.pool.record(replica, code)
                last = AttemptError(code, error.details() or code.name, replica.address)
                if code not in RETRYABLE:
                    break
                continue
            self.pool.record(replica, grpc.StatusCode.OK)
            return reply, replica.address
        if last is None:
            raise self.pool.no_attempt_error(cancelled=False)
        raise last

    async def close(self) -> None:
        channels = [channel for channel, _stub in self._channels.values()]
        self._channels.clear()
        for channel in channels:
            await channel.close()


class AsyncFanOut:
    """`FanOut.run` as a coroutine; deadlines, metrics and logs come from the shared `FanOut`."""

    def __init__(self, fanout: FanOut, make_channel: Callable[[str], grpc.aio.Channel]) -> None:
        self.fanout = fanout
        self.callers = {name: AsyncReplicaCaller(pool, make_channel) for name, pool in fanout.pools.items()}

    @property
    def engines(self) -> tuple[str, ...]:
        return self.fanout.engines

    async def run(
        self, frame: detection_pb2.Frame, options: DetectOptions, budget_s: float | None
    ) -> list[EngineOutcome]:
        deadline = self.fanout.engine_deadline(budget_s)
        calls = (self._call_engine(name, frame, options, deadline) for name in options.engines)
        return list(await asyncio.gather(*calls))

    async def _call_engine(
        self, name: str, frame: detection_pb2.Frame, options: DetectOptions, deadline: float
    ) -> EngineOutcome:
        request = engine_request(name, frame, options)
        started = time.perf_counter()
        try:
            reply, _address = await self.callers[name].detect(request, deadline)
        except AttemptError as error:
            outcome = EngineOutcome(name, error.code, error.details)
        except asyncio.CancelledError:
            gone = EngineOutcome(name, grpc.StatusCode.CANCELLED, "the client cancelled the frame")
            self.fanout.account(gone, started)
            raise
        else:
            outcome = answered_outcome(name, reply)
        return self.fanout.account(outcome, started)

    async def close(self) -> None:
        for caller in self.callers.values():
            await caller.close()
