"""What every detection engine looks like to the services that host it.

Engines are plain numpy: a BGR image in, `Detections` out, no gRPC. The shared servicer in
`liquidedge.detector_servicer` hosts any object of either shape below: an `Engine` finds
its own boxes; a `RefiningEngine` labels boxes another engine found (the recognition engine
names the face engine's boxes), which the aggregator sends it as the request's regions.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from liquidedge.detections import Detections


class Engine(Protocol):
    """A detector that is safe to call from many threads at once."""

    name: str

    def detect(self, image_bgr: np.ndarray, deadline: float | None = None) -> Detections:
        """Find objects. `deadline` (time.monotonic seconds) lets queueing engines drop stale work."""
        ...


@dataclass(frozen=True)
class FrameContext:
    """What a refining engine needs besides the pixels: whose frame, and which boxes to label."""

    source_id: str = ""
    regions: Detections = field(default_factory=Detections.empty)


@runtime_checkable
class RefiningEngine(Protocol):
    """Labels the boxes of another engine; safe to call from many threads at once.

    Answers exactly one detection per region, in the regions' order (the boxes as given,
    with the engine's attributes in `data`), so the caller can merge by index.
    """

    name: str

    def refine(
        self, image_bgr: np.ndarray, context: FrameContext, deadline: float | None = None
    ) -> Detections:
        """`deadline` (time.monotonic seconds): work that would end later is left undone."""
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
