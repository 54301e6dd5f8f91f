"""Loopback ports for tests: one nobody uses, one somebody holds, whether one is taken."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from meshtools.localmesh import free_port

__all__ = ["bindable", "free_port", "listening", "port_taken"]


@contextmanager
def port_taken() -> Iterator[int]:
    """A loopback port another socket listens on while the block runs (a port in use)."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        yield blocker.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on this loopback port."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def bindable(port: int) -> bool:
    """Whether a server could bind this loopback port now (for programs that take fixed ports)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
