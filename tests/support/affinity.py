"""Source names that the aggregator's source affinity spreads over given replicas."""

from __future__ import annotations

from objectdetection.replicas import preference


def sources_spread_over(addresses: list[str], count: int) -> list[str]:
    """`count` robot names whose preferred replica is each of `addresses` in turn, so every
    replica serves some (rendezvous hashing over addresses that change with every run)."""
    found: list[str] = []
    candidates = (f"robot-{k}" for k in range(100_000))
    for i in range(count):
        wanted = addresses[i % len(addresses)]
        found.append(
            next(c for c in candidates if max(addresses, key=lambda a, c=c: preference(c, a)) == wanted)
        )
    return found
