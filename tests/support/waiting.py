"""Wait for a condition by polling it, instead of sleeping for a guessed time.

One `wait_for` for every test folder. It raises rather than returning a bool to assert on, so a
failure says what was awaited and the last value seen, not `assert False`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T],
    timeout_s: float = 15.0,
    what: str = "the condition",
    *,
    until: Callable[[T], object] = bool,
    interval_s: float = 0.02,
) -> T:
    """Call `probe` until `until(value)` holds (by default: the value is truthy) and return the
    value; TimeoutError naming `what` and the last value when `timeout_s` passes first.

    `until` lets the probe return what is worth reading in a failure (the threads still
    running, the metrics seen) while the test waits for, say, that to be empty.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"waited {timeout_s:.1f} s for {what}; last seen: {value!r}")
        time.sleep(interval_s)


def wait_threads_end(before: Collection[threading.Thread], timeout_s: float = 15.0) -> None:
    """Wait until every thread started since `before` (a `threading.enumerate()`) has ended:
    what a failed start or a stop opened, it must close. TimeoutError names the leftovers."""
    known = set(before)
    wait_for(
        lambda: sorted(t.name for t in threading.enumerate() if t not in known),
        timeout_s,
        "the threads started since to end",
        until=lambda left: not left,
    )
