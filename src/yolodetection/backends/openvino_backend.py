"""OpenVINO backend: an ONNX or IR model compiled for the CPU at FP32, BF16 or INT8.

Frames run as OpenVINO asynchronous infer requests, one frame per request, as many at once
as the compiled model has streams: a batch from the dynamic batcher is spread over the
streams, and concurrent callers (no batcher) share the same pool of requests. The model is
reshaped to a static batch of one, which OpenVINO's CPU plugin runs fastest.

Precision is a compile-time hint (`INFERENCE_PRECISION_HINT`), always set explicitly: the
plugin would otherwise pick BF16 by itself on CPUs with AMX, and the reported precision
must be the one that runs.

The `adaptive` hint (the default) compiles the model twice: for throughput (a stream per
core, one core per frame: the least CPU per frame when frames overlap) and for latency (every
core on one frame). A frame that arrives while no other is running takes the latency model, so
a lone robot's frame is answered in half the time; as soon as frames overlap they take the
throughput streams. Measured on the 2-core build machine (docs/cpu.md): a lone frame 15 ms
instead of 30, and the same frames/s as `throughput` at 4 streams.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

import numpy as np
import openvino as ov

from yolodetection.backends.onnx_model import GraphModel
from yolodetection.onnx_layouts import LAYOUT_METADATA_KEY, detect_layout, to_rows

log = logging.getLogger(__name__)

PERFORMANCE_HINTS = ("adaptive", "throughput", "latency")
# The hint for the network's own arithmetic; an INT8 model's quantised layers run INT8
# whatever this says, the rest at BF16 where the CPU has it.
_PRECISION_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "bf16"}


@dataclass(frozen=True)
class OpenVINOOptions:
    """`threads` 0 lets OpenVINO use every core; `streams` 0 lets the hint decide."""

    precision: str = "fp32"
    performance_hint: str = "adaptive"
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

    def compile_config(self, performance_hint: str | None = None) -> dict[str, str]:
        """The plugin's configuration; `performance_hint` overrides the option (adaptive compiles twice)."""
        hint = _PRECISION_HINT[self.precision]
        if hint == "bf16" and not self.cpu_has_bf16:
            hint = "f32"
        chosen = performance_hint or self.performance_hint
        if chosen == "adaptive":
            chosen = "throughput"
        config = {"PERFORMANCE_HINT": chosen.upper(), "INFERENCE_PRECISION_HINT": hint}
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
        # The latency twin of an adaptive backend, and whether its one request is taken.
        self._lone: ov.InferRequest | None = None
        self._lone_model: ov.CompiledModel | None = None
        if options.performance_hint == "adaptive":
            self._lone_model = core.compile_model(model, "CPU", options.compile_config("latency"))
            self._lone = self._lone_model.create_infer_request()
        self._running = 0
        self._running_lock = threading.Lock()
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
        self._lone = None
        self._lone_model = None
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
        with self._running_lock:
            lone = self._lone is not None and self._running == 0 and len(frames) == 1
            self._running += 1
        try:
            per_frame = self._run_lone(frames[0]) if lone else self._run_pooled(frames)
        finally:
            with self._running_lock:
                self._running -= 1
        outputs = [np.concatenate(parts) for parts in zip(*per_frame, strict=True)]
        return to_rows(self.layout, outputs, self.input_wh)

    def _run_lone(self, frame: np.ndarray) -> list[list[np.ndarray]]:
        """The one frame running now, on the latency model (every core on it)."""
        request = self._lone
        assert request is not None
        request.infer({0: frame})
        return [[out.data.copy() for out in request.output_tensors]]

    def _run_pooled(self, frames: list[np.ndarray]) -> list[list[np.ndarray]]:
        """Frames that overlap others, on the throughput streams (one core each)."""
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
        return per_frame
