"""OpenVINO backend: an ONNX or IR model compiled for the CPU at FP32, BF16 or INT8.

Frames run as OpenVINO asynchronous infer requests, one frame per request, as many at once
as the compiled model has streams: a batch from the dynamic batcher is spread over the
streams, and concurrent callers (no batcher) share the same pool of requests. The model is
reshaped to a static batch of one, which OpenVINO's CPU plugin runs fastest.

Precision is a compile-time hint (`INFERENCE_PRECISION_HINT`), always set explicitly: the
plugin would otherwise pick BF16 by itself on CPUs with AMX, and the reported precision
must be the one that runs.
"""

from __future__ import annotations

import logging
import queue
from dataclasses import dataclass

import numpy as np
import openvino as ov

from yolodetection.backends.onnx_model import GraphModel
from yolodetection.onnx_layouts import LAYOUT_METADATA_KEY, detect_layout, to_rows

log = logging.getLogger(__name__)

PERFORMANCE_HINTS = ("throughput", "latency")
# The hint for the network's own arithmetic; an INT8 model's quantised layers run INT8
# whatever this says, the rest at BF16 where the CPU has it.
_PRECISION_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "bf16"}


@dataclass(frozen=True)
class OpenVINOOptions:
    """`threads` 0 lets OpenVINO use every core; `streams` 0 lets the hint decide."""

    precision: str = "fp32"
    performance_hint: str = "throughput"
    threads: int = 0
    streams: int = 0
    cpu_has_bf16: bool = True

    def __post_init__(self) -> None:
        if self.performance_hint not in PERFORMANCE_HINTS:
            raise ValueError(
                f"performance_hint must be one of {PERFORMANCE_HINTS}, got {self.performance_hint!r}"
            )
        if self.threads < 0 or self.streams < 0:
            raise ValueError("threads and streams must be >= 0")

    def compile_config(self) -> dict[str, str]:
        hint = _PRECISION_HINT[self.precision]
        if hint == "bf16" and not self.cpu_has_bf16:
            hint = "f32"
        config = {"PERFORMANCE_HINT": self.performance_hint.upper(), "INFERENCE_PRECISION_HINT": hint}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = str(self.threads)
        if self.streams:
            config["NUM_STREAMS"] = str(self.streams)
        return config


def _graph_layout(model: ov.Model, classes: int | None) -> str:
    metadata = {}
    if model.has_rt_info(["framework", LAYOUT_METADATA_KEY]):
        metadata[LAYOUT_METADATA_KEY] = model.get_rt_info(["framework", LAYOUT_METADATA_KEY]).astype(str)
    shapes = [
        [d.get_length() if d.is_static else None for d in out.get_partial_shape()] for out in model.outputs
    ]
    return detect_layout(shapes, classes=classes, metadata=metadata)


def _graph_input_wh(model: ov.Model) -> tuple[int, int]:
    shape = model.inputs[0].get_partial_shape()
    if shape.rank.get_length() != 4 or not (shape[2].is_static and shape[3].is_static):
        raise ValueError(f"the model's input {shape} has no fixed height and width (expected N,3,H,W)")
    return shape[3].get_length(), shape[2].get_length()


class OpenVINOBackend:
    name = "openvino"
    device = "cpu"
    # No dynamic batcher in front by default: concurrent callers each take an infer request, so
    # one frame's pre- and post-processing overlaps another's inference. Measured at 4 streams
    # (docs/cpu.md): about twice the frames/s of the batcher, which serialises that work.
    preferred_max_batch = 1

    def __init__(self, graph: GraphModel, options: OpenVINOOptions, *, classes: int | None = None) -> None:
        core = ov.Core()
        model = core.read_model(str(graph.path))
        self.layout = graph.layout or _graph_layout(model, classes)
        self.input_wh = graph.input_wh or _graph_input_wh(model)
        width, height = self.input_wh
        model.reshape({model.inputs[0].get_any_name(): [1, 3, height, width]})
        self.options = options
        self.precision = options.precision
        self.version = graph.version
        self.names = graph.names
        self._compiled = core.compile_model(model, "CPU", options.compile_config())
        count = max(1, int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._idle: queue.SimpleQueue[ov.InferRequest] = queue.SimpleQueue()
        for _ in range(count):
            self._idle.put(self._compiled.create_infer_request())
        self.requests = count
        log.info(
            "openvino backend: %s at %s, %s hint, %s streams x %s threads, %d infer requests, layout %s",
            graph.path.name,
            self.precision.upper(),
            options.performance_hint,
            self._compiled.get_property("NUM_STREAMS"),
            self._compiled.get_property("INFERENCE_NUM_THREADS"),
            count,
            self.layout,
        )

    def close(self) -> None:
        """Free the compiled model and its infer requests; no frame may run on it afterwards."""
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break
        self.requests = 0
        del self._compiled

    def _borrow(self, wanted: int) -> list[ov.InferRequest]:
        """One request (waiting for it), plus up to `wanted - 1` others idle now.

        Never waits while holding one, so concurrent callers cannot deadlock each other.
        """
        held = [self._idle.get()]
        while len(held) < min(wanted, self.requests):
            try:
                held.append(self._idle.get_nowait())
            except queue.Empty:
                break
        return held

    def forward(self, blob: np.ndarray) -> list[np.ndarray]:
        frames = [np.ascontiguousarray(blob[i : i + 1], np.float32) for i in range(blob.shape[0])]
        per_frame: list[list[np.ndarray]] = []
        held = self._borrow(len(frames))
        try:
            for start in range(0, len(frames), len(held)):
                running = list(zip(held, frames[start : start + len(held)], strict=False))
                for request, frame in running:
                    request.start_async({0: frame})
                for request, _ in running:
                    request.wait()
                    per_frame.append([out.data.copy() for out in request.output_tensors])
        finally:
            for request in held:
                self._idle.put(request)
        outputs = [np.concatenate(parts) for parts in zip(*per_frame, strict=True)]
        return to_rows(self.layout, outputs, self.input_wh)
