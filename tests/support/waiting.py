"""Wait for a condition by polling it, instead of sleeping for a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T], timeout_s: float = 10.0, *, what: str = "the condition", interval_s: float = 0.02
) -> T:
    """Call `probe` until it returns something truthy and return that; TimeoutError naming
    `what` (and the last value seen) when `timeout_s` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.1f} s (last: {value!r})")
        time.sleep(interval_s)
