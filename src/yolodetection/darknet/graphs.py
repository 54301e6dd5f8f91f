"""CUDA graphs for the batch sizes a server actually runs.

At small batches a YOLO forward pass is bound by kernel-launch overhead, not by the GPU:
replaying a captured graph launches the whole network at once. A graph has fixed shapes,
so one is captured per batch size ("bucket"); a batch of 5 runs in the 8-graph with the
first 5 rows filled. Only ever constructed when the model is on a CUDA device.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    static_input: torch.Tensor
    static_outputs: list[torch.Tensor]


class CudaGraphRunner:
    """Replays one captured graph per bucket size; captures lazily (or in `capture_all`).

    A graph's input and output buffers are shared, so filling the input, replaying and
    copying the outputs out happen under one lock.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        input_chw: tuple[int, int, int],
        dtype: torch.dtype,
        device: torch.device,
        batch_sizes: Sequence[int],
        channels_last: bool = True,
    ) -> None:
        if device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, got {device}")
        sizes = sorted({int(b) for b in batch_sizes if int(b) > 0})
        if not sizes:
            raise ValueError("batch_sizes must name at least one positive size")
        self.model = model
        self.input_chw = input_chw
        self.dtype = dtype
        self.device = device
        self.batch_sizes = tuple(sizes)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._captured: dict[int, _Captured] = {}
        self._pool: tuple[int, int] | None = None
        self._lock = threading.Lock()

    @property
    def max_batch(self) -> int:
        return self.batch_sizes[-1]

    def bucket(self, batch: int) -> int:
        """The smallest captured size that holds `batch` rows."""
        for size in self.batch_sizes:
            if size >= batch:
                return size
        raise ValueError(f"batch {batch} is larger than the largest CUDA graph ({self.max_batch})")

    def capture_all(self) -> None:
        with self._lock:
            for size in self.batch_sizes:
                self._get(size)

    def _get(self, size: int) -> _Captured:
        captured = self._captured.get(size)
        if captured is None:
            captured = self._capture(size)
            self._captured[size] = captured
        return captured

    @torch.inference_mode()
    def _capture(self, size: int) -> _Captured:
        static_input = torch.zeros((size, *self.input_chw), dtype=self.dtype, device=self.device)
        static_input = static_input.contiguous(memory_format=self.memory_format)
        # Warm up on a side stream first: cuDNN autotuning and lazy allocations must not
        # happen inside the capture.
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self.model(static_input)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            static_outputs = list(self.model(static_input))
        self._pool = graph.pool()
        log.info("captured a CUDA graph for batch %d", size)
        return _Captured(graph, static_input, static_outputs)

    def run(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs for `x` (already on the device, right dtype), via the fitting graph."""
        batch = x.shape[0]
        size = self.bucket(batch)
        with self._lock:
            captured = self._get(size)
            captured.static_input[:batch].copy_(x)
            captured.graph.replay()
            return [out[:batch].clone() for out in captured.static_outputs]
