"""One model a service serves, replaced while it serves.

Restarting a pod to change its model drops the frames in flight and leaves the robots it
served without answers for seconds. Instead a service keeps its model in a `ModelSlot`: a new
version is loaded and smoke-tested beside the serving one, then swapped in by one reference
change. Every frame takes a *lease* on the version it starts with and finishes on it, however
long it runs; the old version is closed when its last lease ends. A version that fails to load
or fails its smoke test is refused: the slot keeps serving what it has, says so in the log and
in the metrics, and raises to the caller (a channel watcher) so it is not offered again.

The slot knows nothing of where versions come from (a model store channel, a directory, an
operator's pin): the caller hands it a version id and a function that loads it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import numpy as np

from liquidedge.detections import Detections
from liquidedge.errors import EngineUnavailableError
from liquidedge.metrics import ServiceMetrics

log = logging.getLogger(__name__)

M = TypeVar("M")


class ModelRefusedError(RuntimeError):
    """A version that did not load or failed its smoke test; the slot kept the one it had."""

    def __init__(self, engine: str, version: str, reason: str) -> None:
        super().__init__(f"{engine} model {version} refused: {reason}")
        self.engine = engine
        self.version = version
        self.reason = reason


@dataclass(frozen=True)
class Lease(Generic[M]):
    """The model a frame runs on, and its version (reported with the frame's answer)."""

    model: M
    version: str


@dataclass
class _Entry(Generic[M]):
    model: M
    version: str
    leases: int = 0
    retired: bool = False
    closed: bool = False


@dataclass
class ModelSlot(Generic[M]):
    """Thread-safe holder of the model version a service serves now.

    `smoke` runs on a freshly loaded model before it may serve (a known frame through it, output
    shapes checked); `close` frees a model (GPU memory, worker processes) once no frame uses it.
    """

    engine: str
    smoke: Callable[[M], None] | None = None
    close_model: Callable[[M], None] | None = None
    metrics: ServiceMetrics | None = None
    clock: Callable[[], float] = time.perf_counter
    refused: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # guards the current entry and lease counts; never held long
        self._loading = threading.Lock()  # one load at a time; frames never take it
        self._current: _Entry[M] | None = None
        self._serving_since: float | None = None  # wall clock, for the status document
        if self.metrics is not None:
            self.metrics.model_states[self.engine] = self.describe

    def describe(self) -> dict[str, Any]:
        """The slot for the service's `/status`: what serves, since when, what was refused and why."""
        return {
            "version": self.version,
            "serving_since": self._serving_since,
            "refused": dict(self.refused),
        }

    @property
    def version(self) -> str | None:
        entry = self._current
        return None if entry is None else entry.version

    def offer(self, version: str, load: Callable[[], M]) -> bool:
        """Load `version` beside the serving one and swap it in; False when it already serves.

        Raises `ModelRefusedError` (the current version still serving) when loading or the smoke
        test fails.
        """
        with self._loading:
            if version == self.version:
                return False
            started = self.clock()
            model: Any = _NOT_LOADED
            try:
                model = load()
                if self.smoke is not None:
                    self.smoke(model)
            except Exception as error:
                if model is not _NOT_LOADED:
                    self._close(model, version)
                self._refuse(version, f"{type(error).__name__}: {error}")
                raise ModelRefusedError(self.engine, version, str(error)) from error
            load_s = self.clock() - started
            previous = self._swap(_Entry(model, version))
            self._serving_since = time.time()
        self._count("accepted")
        if self.metrics is not None:
            if previous is not None:
                self.metrics.model_info.remove(self.metrics.service, self.engine, previous)
            self.metrics.model_info.labels(self.metrics.service, self.engine, version).set(1)
            self.metrics.model_load.labels(self.metrics.service, self.engine).observe(load_s)
        log.info(
            "%s model %s serving (was %s)",
            self.engine,
            version,
            previous,
            extra={
                "engine": self.engine,
                "version": version,
                "previous": previous,
                "load_s": round(load_s, 3),
            },
        )
        return True

    @contextmanager
    def lease(self) -> Iterator[Lease[M]]:
        """The serving version for one unit of work (a frame, a batch); it outlives any swap."""
        with self._lock:
            entry = self._current
            if entry is None:
                raise EngineUnavailableError(f"no {self.engine} model is loaded yet")
            entry.leases += 1
        try:
            yield Lease(entry.model, entry.version)
        finally:
            with self._lock:
                entry.leases -= 1
                finished = entry.retired and entry.leases == 0 and not entry.closed
                if finished:
                    entry.closed = True
            if finished:
                self._close(entry.model, entry.version)

    def close(self) -> None:
        """Retire the serving version (service shut-down); it closes when its last lease ends."""
        with self._loading:
            self._swap(None)

    def _swap(self, new: _Entry[M] | None) -> str | None:
        with self._lock:
            old, self._current = self._current, new
            if old is None:
                return None
            old.retired = True
            idle = old.leases == 0 and not old.closed
            if idle:
                old.closed = True
        if idle:
            self._close(old.model, old.version)
        return old.version

    def _close(self, model: M, version: str) -> None:
        if self.close_model is None:
            return
        try:
            self.close_model(model)
        except Exception:  # a model that fails to close must not take the service down
            log.exception("closing %s model %s failed", self.engine, version)

    def refuse(self, version: str, reason: str) -> None:
        """Record a version refused before it was loaded (it failed its checksums): logged and
        counted as the slot's own refusals are, the serving version untouched."""
        self._refuse(version, reason)

    def _refuse(self, version: str, reason: str) -> None:
        self.refused[version] = reason
        self._count("refused")
        log.error(
            "%s model %s refused, still serving %s: %s",
            self.engine,
            version,
            self.version,
            reason,
            extra={"engine": self.engine, "refused": version, "version": self.version, "reason": reason},
        )

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.model_swaps.labels(self.metrics.service, self.engine, outcome).inc()


_NOT_LOADED = object()


class SlotEngine:
    """The `Engine` a detection service hosts when its model can change while it serves.

    Each call (one frame, or one batch from the dynamic batcher) leases the serving version and
    runs wholly on it; the answers say which version that was (`meta["model_version"]`).
    """

    def __init__(self, name: str, slot: ModelSlot[Any], labels: Sequence[str] = ()) -> None:
        self.name = name
        self.slot = slot
        self.labels = tuple(labels)

    def detect(self, image_bgr: np.ndarray, deadline: float | None = None) -> Detections:
        return self.detect_batch([image_bgr])[0]

    def detect_batch(self, images_bgr: Sequence[np.ndarray]) -> list[Detections]:
        with self.slot.lease() as lease:
            answers = lease.model.detect_batch(images_bgr)
        return [replace(found, meta={**found.meta, "model_version": lease.version}) for found in answers]

    def warm_up(self) -> None:
        with self.slot.lease() as lease:
            warm_up = getattr(lease.model, "warm_up", None)
            if warm_up is not None:
                warm_up()

    def close(self) -> None:
        self.slot.close()
