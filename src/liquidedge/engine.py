"""What every detection engine looks like to the services that host it.

Engines are plain numpy: a BGR image in, `Detections` out, no gRPC. The shared servicer in
`liquidedge.detector_servicer` hosts any object of this shape.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

import numpy as np

from liquidedge.detections import Detections


class Engine(Protocol):
    """A detector that is safe to call from many threads at once."""

    name: str

    def detect(self, image_bgr: np.ndarray, deadline: float | None = None) -> Detections:
        """Find objects. `deadline` (time.monotonic seconds) lets queueing engines drop stale work."""
        ...


T = TypeVar("T")


class InstancePool(Generic[T]):
    """A fixed set of non-thread-safe model instances, lent to one caller at a time.

    OpenCV's CascadeClassifier and dnn.Net keep per-call scratch state, so sharing one
    instance across threads returns wrong boxes under load (the original demonstrator's bug).
    Each caller borrows its own instance; with more callers than instances they wait.
    """

    def __init__(self, factory: Callable[[], T], size: int) -> None:
        if size < 1:
            raise ValueError(f"pool size must be at least 1, got {size}")
        self._free: queue.Queue[T] = queue.Queue()
        for _ in range(size):
            self._free.put(factory())
        self.size = size

    @contextmanager
    def borrow(self) -> Iterator[T]:
        instance = self._free.get()
        try:
            yield instance
        finally:
            self._free.put(instance)
