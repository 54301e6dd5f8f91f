"""The replicas behind one engine: balancing, retries and outlier ejection without a mesh.

An engine address may name several detector pods (`dns:///yolodetection.edge.svc:50055` over a
headless Service, or `ipv4:10.0.0.5:50055,10.0.0.6:50055`). Each replica gets its own channel, so
the aggregator knows which pod failed and can:

* balance frames round-robin over the replicas in service;
* retry a failed or shed frame on another replica while the frame's deadline allows;
* eject a replica after consecutive failures, or at once when its health probe fails (a frozen
  pod answers nothing, so waiting for call timeouts would take seconds), and probe it back in
  after an ejection time that doubles while it keeps failing, as Istio's outlier detection does.

Other targets (`host:port`, `unix:`) stay one replica resolved by gRPC itself.

A pool lives on the aggregator's event loop: its channels are `grpc.aio` channels, one per
replica, carrying both the detection calls and the health probes; its bookkeeping has no
locks because only the loop's thread touches it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from liquidedge.service import DETECTOR_SERVICE
from liquidedge.v1 import detection_pb2, detection_pb2_grpc

log = logging.getLogger(__name__)

# Worth another replica: the replica is gone, hung, or full. A bad frame is not.
RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)
# Count towards ejection: the replica itself misbehaves. Shedding (RESOURCE_EXHAUSTED) is healthy behaviour.
FAILURES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)


@dataclass(frozen=True)
class ReplicaPolicy:
    consecutive_failures: int = 3
    base_ejection_s: float = 2.0
    max_ejection_s: float = 30.0
    # Never eject more than this share of replicas by call failures (a sick backend-wide
    # problem should not empty the pool); a failed health probe ejects regardless.
    max_ejected_fraction: float = 0.5
    max_attempts: int = 2
    # When another replica could take a retry, the first attempt gets this share of the budget.
    first_attempt_share: float = 0.6
    # Attempts shorter than this are not worth starting.
    min_attempt_s: float = 0.02
    resolve_interval_s: float = 5.0


@dataclass
class Replica:
    address: str
    channel: grpc.aio.Channel
    failures: int = 0
    ejections: int = 0
    ejected_until: float = 0.0
    # Whether it ever said SERVING or answered a frame: one still starting (its model loading as
    # the aggregator comes up) is kept out like any other, but that is not news worth a warning.
    has_served: bool = False

    def __post_init__(self) -> None:
        self.detector = detection_pb2_grpc.DetectorStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def ejected(self, now: float) -> bool:
        return now < self.ejected_until

    async def serving(self, timeout_s: float) -> bool:
        try:
            reply = await self.health.Check(
                health_pb2.HealthCheckRequest(service=DETECTOR_SERVICE), timeout=timeout_s
            )
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING


class AttemptError(Exception):
    def __init__(self, code: grpc.StatusCode, details: str, address: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.address = address


def preference(key: str, address: str) -> bytes:
    """How much `key` prefers the replica at `address` (rendezvous hashing: highest wins)."""
    return hashlib.blake2b(f"{key}\0{address}".encode(), digest_size=8).digest()


def split_target(target: str) -> tuple[str, list[str]]:
    """('dns', [host:port]) / ('ipv4', [a:p, b:p]) / ('grpc', [target]) for gRPC's own resolution."""
    if target.startswith("dns:///"):
        return "dns", [target[len("dns:///") :]]
    if target.startswith("dns:") and not target.startswith("dns://"):
        return "dns", [target[len("dns:") :]]
    if target.startswith("ipv4:"):
        return "ipv4", [a for a in target[len("ipv4:") :].split(",") if a]
    return "grpc", [target]


async def resolve_dns(host_port: str) -> list[str]:
    """Every address a name resolves to, without blocking the event loop."""
    host, _, port = host_port.rpartition(":")
    host = host.strip("[]")
    infos = await asyncio.get_running_loop().getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    addresses = []
    for family, _type, _proto, _name, sockaddr in infos:
        ip = sockaddr[0]
        address = f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}"
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass
class ReplicaPool:
    """Every replica of one engine; one per engine per aggregator, used on its event loop only."""

    engine: str
    target: str
    make_channel: Callable[[str], grpc.aio.Channel]
    policy: ReplicaPolicy = field(default_factory=ReplicaPolicy)
    clock: Callable[[], float] = time.monotonic
    resolver: Callable[[str], Awaitable[list[str]]] = resolve_dns
    on_eject: Callable[[str, str, str], None] | None = None
    # Sent with every detection call, e.g. the aggregator's bearer token for the detectors.
    metadata: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        self._replicas: dict[str, Replica] = {}
        self._turn = itertools.count()
        self._resolved_at = -1e9
        self.scheme, self._names = split_target(self.target)
        if self.scheme != "dns":
            self._update(self._names)  # a fixed list: no resolving, ever

    # -- membership ------------------------------------------------------------------------

    async def refresh(self, force: bool = False) -> None:
        """Re-resolve a DNS target (replicas come and go with the autoscaler)."""
        now = self.clock()
        if self.scheme != "dns" or (not force and now - self._resolved_at < self.policy.resolve_interval_s):
            return
        self._resolved_at = now
        try:
            addresses = await self.resolver(self._names[0])
        except OSError as error:
            log.warning(
                "could not resolve %s: %s; keeping %d replicas", self.target, error, len(self._replicas)
            )
            return
        for channel in self._update(addresses):
            await channel.close()

    def _update(self, addresses: Sequence[str]) -> list[grpc.aio.Channel]:
        """Add replicas for new addresses; forget gone ones and return their channels to close."""
        for address in addresses:
            if address not in self._replicas:
                self._replicas[address] = Replica(address, self.make_channel(address))
                log.info("replica added", extra={"engine": self.engine, "replica": address})
        gone = [a for a in self._replicas if a not in addresses]
        for address in gone:
            log.info("replica removed", extra={"engine": self.engine, "replica": address})
        return [self._replicas.pop(address).channel for address in gone]

    @property
    def replicas(self) -> list[Replica]:
        return list(self._replicas.values())

    def describe(self) -> list[dict[str, Any]]:
        """The replicas for the aggregator's `/status`. Read from the HTTP server's thread: a copy
        of the replica list, then plain attribute reads (a replica changed meanwhile shows either
        state, never a broken one)."""
        now = self.clock()
        return [
            {
                "address": replica.address,
                "in_service": not replica.ejected(now),
                "ejected_for_s": round(max(0.0, replica.ejected_until - now), 2),
                "ejections": replica.ejections,
                "consecutive_failures": replica.failures,
            }
            for replica in list(self._replicas.values())
        ]

    def in_service(self) -> list[str]:
        now = self.clock()
        return [r.address for r in self._replicas.values() if not r.ejected(now)]

    # -- choosing and bookkeeping ----------------------------------------------------------

    def choose(self, exclude: Sequence[str] = (), affinity: str = "") -> Replica | None:
        """The next replica round-robin, or with `affinity` the one that key prefers.

        Affinity is rendezvous hashing over the replicas in service: a source's frames go to
        the same replica while it serves (it keeps that source's state), to the next one it
        prefers when it is out, and only sources of a replica that leaves move.
        """
        now = self.clock()
        candidates = [r for r in self._replicas.values() if r.address not in exclude]
        if not candidates:
            return None
        healthy = [r for r in candidates if not r.ejected(now)]
        if not healthy:
            # Panic mode: every replica is ejected; try the one that comes back soonest
            # rather than fail the frame without trying.
            return min(candidates, key=lambda r: r.ejected_until)
        if affinity:
            return max(healthy, key=lambda r: preference(affinity, r.address))
        return healthy[next(self._turn) % len(healthy)]

    def _eject(self, replica: Replica, now: float, reason: str) -> None:
        replica.ejections += 1
        duration = min(self.policy.max_ejection_s, self.policy.base_ejection_s * 2 ** (replica.ejections - 1))
        replica.ejected_until = now + duration
        replica.failures = 0
        log.log(
            logging.WARNING if replica.has_served else logging.INFO,
            "replica ejected" if replica.has_served else "replica not serving yet, kept out",
            extra={"engine": self.engine, "replica": replica.address, "reason": reason, "seconds": duration},
        )
        if self.on_eject is not None:
            self.on_eject(self.engine, replica.address, reason)

    def record(self, replica: Replica, code: grpc.StatusCode) -> None:
        now = self.clock()
        if code == grpc.StatusCode.OK:
            replica.failures = 0
            replica.has_served = True
            return
        if code not in FAILURES or replica.ejected(now):
            return
        replica.failures += 1
        if replica.failures < self.policy.consecutive_failures:
            return
        ejected = sum(1 for r in self._replicas.values() if r.ejected(now))
        if (ejected + 1) / len(self._replicas) <= self.policy.max_ejected_fraction:
            self._eject(replica, now, f"{replica.failures} consecutive failures ({code.name})")

    async def probe(self, timeout_s: float) -> bool:
        """Health-check every replica at once: eject the silent ones now, readmit recovered ones.

        Returns whether any replica is serving.
        """
        await self.refresh()
        replicas = self.replicas
        answers = await asyncio.gather(*(replica.serving(timeout_s) for replica in replicas))
        now = self.clock()
        for replica, serving in zip(replicas, answers, strict=True):
            replica.has_served = replica.has_served or serving
            if not serving:
                if not replica.ejected(now):
                    self._eject(replica, now, "health probe failed")
            elif replica.ejections and now - replica.ejected_until > self.policy.max_ejection_s:
                replica.ejections = 0  # healthy for a long while: the next ejection starts short again
        return any(answers)

    # -- calling ---------------------------------------------------------------------------

    def next_attempt(
        self, attempt: int, deadline: float, tried: list[str], affinity: str = ""
    ) -> tuple[Replica, float] | None:
        """The replica and timeout for attempt number `attempt`, or None when it is not worth one.

        Appends the chosen replica to `tried`.
        """
        if attempt >= self.policy.max_attempts:
            return None
        remaining = deadline - self.clock()
        if remaining < self.policy.min_attempt_s:
            return None
        replica = self.choose(exclude=tried, affinity=affinity)
        if replica is None:
            return None
        tried.append(replica.address)
        others = [a for a in self.in_service() if a not in tried]
        # With affinity the replica that keeps the source's state gets the whole budget: another
        # is tried only when it is out (which fails fast), not when it is merely slow.
        last_chance = attempt == self.policy.max_attempts - 1 or not others or bool(affinity)
        return replica, remaining if last_chance else remaining * self.policy.first_attempt_share

    def no_attempt_error(self) -> AttemptError:
        """Why a frame got no answer when no attempt was even made."""
        if not self._replicas:
            return AttemptError(grpc.StatusCode.UNAVAILABLE, f"no replica of {self.target} resolved", "")
        return AttemptError(grpc.StatusCode.DEADLINE_EXCEEDED, "no time left for the engine", "")

    async def detect(
        self, request: detection_pb2.DetectRequest, deadline: float, *, affinity: str = ""
    ) -> tuple[detection_pb2.DetectResponse, str]:
        """Run the request on one replica, retrying on others while the deadline allows.

        `affinity` (a source id): the replica that key prefers first (see `choose`).
        A client that hangs up cancels the awaiting task, and with it the call in flight.
        """
        tried: list[str] = []
        last: AttemptError | None = None
        for attempt in range(self.policy.max_attempts):
            step = self.next_attempt(attempt, deadline, tried, affinity)
            if step is None:
                break
            replica, timeout_s = step
            try:
                reply = await replica.detector.Detect(
                    request, timeout=timeout_s, metadata=self.metadata or None
                )
            except grpc.aio.AioRpcError as error:
                code = error.code()
                self.record(replica, code)
                last = AttemptError(code, error.details() or code.name, replica.address)
                if code not in RETRYABLE:
                    break
                continue
            self.record(replica, grpc.StatusCode.OK)
            return reply, replica.address
        if last is None:
            raise self.no_attempt_error()
        raise last

    async def close(self) -> None:
        channels = [replica.channel for replica in self.replicas]
        self._replicas.clear()
        for channel in channels:
            await channel.close()
