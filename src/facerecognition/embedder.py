"""Face boxes to 128-d embeddings with dlib: 5-point alignment, then the ResNet.

Two facts about dlib 20's Python binding shape this module (see docs/recognition.md):

* dlib objects are not documented as thread-safe ("unless otherwise documented, it's not
  safe to touch dlib objects from multiple threads at the same time", dlib's author), so every
  model instance is lent to one caller at a time (`InstancePool`).
* The binding holds the GIL for the whole call (pybind11's default; measured: a Python thread
  makes no progress during an 85 ms embedding). Threads therefore give no parallelism and
  stall every other Python thread of the process while a face is embedded. `ProcessEmbedder`
  runs the network in worker processes instead; `LocalEmbedder` is the simple in-process one.

Alignment (landmarks + the 150x150 chip, a few ms) happens in the caller; only the chip goes
to the network, so a worker process receives 67 KB, not a frame.
"""

from __future__ import annotations

import math
import multiprocessing
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Protocol

import cv2
import dlib
import numpy as np

from liquidedge.engine import InstancePool

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# Crop this much of the box side around each face before alignment: the chip (padding 0.25
# around the landmarks) always lies inside it, and only the crop is converted to RGB.
_CROP_MARGIN = 0.6


def device() -> str:
    """Where dlib runs its network: its CUDA build when installed, the CPU otherwise."""
    return "cuda" if dlib.DLIB_USE_CUDA else "cpu"


class FaceAligner:
    """A face box in a BGR frame -> dlib's aligned 150x150 RGB chip (5-point landmarks).

    The landmarks are predicted inside the given box, whichever detector drew it: measured on
    the test photos, an embedding from a Haar box is within 0.08 of one from dlib's own box.
    """

    def __init__(self, predictor_path: Path, instances: int = 2) -> None:
        self._pool = InstancePool(lambda: dlib.shape_predictor(str(predictor_path)), instances)

    def chip(self, image_bgr: np.ndarray, box_xyxy: Sequence[float]) -> np.ndarray:
        x1, y1, x2, y2 = (float(v) for v in box_xyxy)
        side = max(x2 - x1, y2 - y1, 1.0)
        height, width = image_bgr.shape[:2]
        cx1 = max(0, math.floor(x1 - _CROP_MARGIN * side))
        cy1 = max(0, math.floor(y1 - _CROP_MARGIN * side))
        cx2 = min(width, math.ceil(x2 + _CROP_MARGIN * side))
        cy2 = min(height, math.ceil(y2 + _CROP_MARGIN * side))
        crop = image_bgr[cy1:cy2, cx1:cx2]
        rgb = (
            cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
            if crop.ndim == 3
            else cv2.cvtColor(crop, cv2.COLOR_GRAY2RGB)
        )
        rect = dlib.rectangle(round(x1) - cx1, round(y1) - cy1, round(x2) - cx1, round(y2) - cy1)
        with self._pool.borrow() as predictor:
            shape = predictor(rgb, rect)
            return np.asarray(dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING))


class FaceNet:
    """One instance of dlib's ResNet: aligned chips in, 128-d float32 embeddings out."""

    def __init__(self, resnet_path: Path) -> None:
        self._net = dlib.face_recognition_model_v1(str(resnet_path))

    def embed(self, chip: np.ndarray) -> np.ndarray:
        return np.asarray(self._net.compute_face_descriptor(chip), dtype=np.float32)

    def embed_batch(self, chips: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One call for many chips: what a GPU wants (on a CPU it costs the same as a loop)."""
        return [np.asarray(v, dtype=np.float32) for v in self._net.compute_face_descriptor(list(chips))]


class CostEstimate:
    """Running estimate of one embedding's wall time, so work that cannot finish is not started."""

    def __init__(self, initial_s: float, alpha: float = 0.2) -> None:
        self._value = initial_s
        self._alpha = alpha
        self._lock = threading.Lock()

    @property
    def seconds(self) -> float:
        return self._value

    def add(self, sample_s: float) -> None:
        with self._lock:
            self._value += self._alpha * (sample_s - self._value)


def fitting(count: int, *, deadline: float | None, cost_s: float, lanes: int, now: float) -> int:
    """How many of `count` embeddings, run `lanes` at a time, are expected to end by `deadline`."""
    if deadline is None:
        return count
    budget = deadline - now
    if budget <= 0 or cost_s <= 0:
        return 0 if budget <= 0 else count
    rounds = math.floor(budget / cost_s)
    return max(0, min(count, rounds * lanes))


class Embedder(Protocol):
    """Turns aligned chips into embeddings; `None` for a chip that would end past the deadline."""

    device: str
    lanes: int
    cost: CostEstimate

    def embed(
        self, chips: Sequence[np.ndarray], deadline: float | None = None
    ) -> list[np.ndarray | None]: ...

    def close(self) -> None: ...


def _blank_chip() -> np.ndarray:
    return np.zeros((CHIP_SIZE, CHIP_SIZE, 3), np.uint8)


class LocalEmbedder:
    """The network in this process: simple, but each embedding holds the GIL (see module doc)."""

    def __init__(self, resnet_path: Path) -> None:
        self.device = device()
        self.lanes = 1  # the GIL: more instances would never run at once
        self._pool = InstancePool(lambda: FaceNet(resnet_path), 1)
        with self._pool.borrow() as net:
            start = time.monotonic()
            net.embed(_blank_chip())  # first call allocates dlib's buffers
            self.cost = CostEstimate(time.monotonic() - start)

    def embed(self, chips: Sequence[np.ndarray], deadline: float | None = None) -> list[np.ndarray | None]:
        results: list[np.ndarray | None] = [None] * len(chips)
        with self._pool.borrow() as net:
            if self.device == "cuda" and len(chips) > 1:
                n = fitting(
                    len(chips), deadline=deadline, cost_s=self.cost.seconds, lanes=1, now=time.monotonic()
                )
                start = time.monotonic()
                results[:n] = net.embed_batch(chips[:n]) if n else []
                if n:
                    self.cost.add((time.monotonic() - start) / n)
                return results
            for i, chip in enumerate(chips):
                if (
                    fitting(1, deadline=deadline, cost_s=self.cost.seconds, lanes=1, now=time.monotonic())
                    == 0
                ):
                    break
                start = time.monotonic()
                results[i] = net.embed(chip)
                self.cost.add(time.monotonic() - start)
        return results

    def close(self) -> None:
        pass


# Worker-process state: one network per worker process, loaded by the pool's initializer.
# It lives only in the worker (the parent never sets it), which is what an initializer is for.
_worker_net: FaceNet | None = None


def _init_worker(resnet_path: str) -> None:
    global _worker_net
    _worker_net = FaceNet(Path(resnet_path))


def _embed_in_worker(chip: np.ndarray) -> np.ndarray:
    if _worker_net is None:
        raise RuntimeError("embedding worker was not initialised")
    return _worker_net.embed(chip)


class ProcessEmbedder:
    """The network in `workers` processes: embeddings in parallel, the caller's GIL stays free.

    Processes are spawned (never forked: a forked gRPC server is unsafe), each loads its own
    network once. A chip predicted to end past the deadline is not submitted; one still
    running at the deadline is abandoned (its result dropped) and counted late by the caller.
    """

    def __init__(self, resnet_path: Path, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.device = device()
        self.lanes = workers
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(str(resnet_path),),
        )
        # Start every worker (its first call also warms dlib up), then time one embedding.
        for future in [self._pool.submit(_embed_in_worker, _blank_chip()) for _ in range(workers)]:
            future.result()
        start = time.monotonic()
        self._pool.submit(_embed_in_worker, _blank_chip()).result()
        self.cost = CostEstimate(time.monotonic() - start)

    def embed(self, chips: Sequence[np.ndarray], deadline: float | None = None) -> list[np.ndarray | None]:
        start = time.monotonic()
        n = fitting(len(chips), deadline=deadline, cost_s=self.cost.seconds, lanes=self.lanes, now=start)
        futures: list[Future[np.ndarray]] = [self._pool.submit(_embed_in_worker, chip) for chip in chips[:n]]
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        wait(futures, timeout=timeout)
        results: list[np.ndarray | None] = [None] * len(chips)
        for i, future in enumerate(futures):
            if future.done() and not future.cancelled():
                results[i] = future.result()
            else:
                future.cancel()
        if n and all(r is not None for r in results[:n]):
            # Wall time per round of `lanes` embeddings: the cost `fitting` expects.
            self.cost.add((time.monotonic() - start) / math.ceil(n / self.lanes))
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
