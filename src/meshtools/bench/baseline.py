"""The original demonstrator's work, measured in the same run as the mesh, and the judged ratios.

What the system we replace did per frame, in one process, one frame after another: decode the
JPEG, Haar faces with its settings (scaleFactor 1.3, minNeighbors 3, OpenCV's default minimum
size, full resolution), then YOLO through OpenCV DNN, then the next frame. Our mesh, with its
own defaults, must give at least twice its frames/s from 4 streams and answer one stream in
at most 0.6 of its per-frame time (issue 10).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from liquidedge.detections import Detections
from liquidedge.imaging import ImageLimits, decode_jpeg
from meshtools.bench.load import CaseResult, Stream, run_closed_loop
from meshtools.bench.report import Ratio, find
from meshtools.samples import SampleFrame

log = logging.getLogger("meshtools.bench")

BASELINE_CASE = "baseline:original-sequential"
MIN_FRAMES = 20
MAX_WINDOW_S = 20.0
MESH_CASE = "grpc:mesh"
FPS_STREAMS = 4
LATENCY_STREAMS = 1
FPS_TARGET = 2.0
LATENCY_TARGET = 0.6
# The demonstrator's detectMultiScale(gray, 1.3, 3): no minSize, so the cascade's own 24 px.
ORIGINAL_FACE = {"scale_factor": 1.3, "min_neighbors": 3, "min_size": 24, "downscale": 1.0, "instances": 1}


def original_work(frames: Sequence[SampleFrame], model_dir: str) -> Callable[[int], Detections]:
    """One frame of the original's work: decode, faces, then YOLO (OpenCV DNN), in this thread."""
    from facedetection.engine import FaceEngine, FaceSettings
    from yolodetection.backends.opencv_dnn import OpenCVBackend
    from yolodetection.engine import YoloEngine, YoloSettings
    from yolodetection.model_files import ModelFiles

    files = ModelFiles.in_dir(model_dir)
    face = FaceEngine(FaceSettings(**ORIGINAL_FACE))
    yolo = YoloEngine(
        OpenCVBackend(files, prefer_cuda=False), files.class_names(), files.input_size(), YoloSettings()
    )
    yolo.warm_up()
    limits = ImageLimits()

    def one(index: int) -> Detections:
        image = decode_jpeg(frames[index % len(frames)].jpeg, limits).image_bgr
        return Detections.merge([face.detect(image), yolo.detect(image)])

    return one


def run_baseline(runner: Any, frames: Sequence[SampleFrame], model_dir: str) -> None:
    """Measure the original's work as one closed-loop stream (it served one frame at a time).

    At least MIN_FRAMES frames (up to MAX_WINDOW_S), whatever the plan's window: at a few
    frames a second a one-second window would judge the mesh against two or three frames.
    """
    work = original_work(frames, model_dir)
    plan = runner.plan
    result = run_closed_loop(
        "base",
        BASELINE_CASE,
        lambda _i: Stream(work),
        streams=1,
        warmup_s=plan.warmup_s,
        measure_s=plan.measure_s,
        max_measure_s=max(4 * plan.measure_s, MAX_WINDOW_S),
        min_rounds=MIN_FRAMES,
    )
    runner.results.append(result)
    log.info("%-26s %3d streams  %8.1f frames/s  p50 %7.1f ms", result.case, 1, result.fps, result.p50)


def baseline_ratios(results: Sequence[CaseResult]) -> list[Ratio]:
    """The two judged ratios, when both sides were measured; the note says the target."""
    base = find(results, BASELINE_CASE, 1)
    if base is None:
        return []
    ratios = []
    mesh = find(results, MESH_CASE, FPS_STREAMS)
    if mesh is not None and base.fps > 0:
        value = mesh.fps / base.fps
        verdict = "meets" if value >= FPS_TARGET else "MISSES"
        ratios.append(
            Ratio(
                "mesh / original (frames/s)",
                FPS_STREAMS,
                value,
                MESH_CASE,
                BASELINE_CASE,
                f"frames/s, target >= {FPS_TARGET:g}: {verdict}",
            )
        )
    mesh = find(results, MESH_CASE, LATENCY_STREAMS)
    if mesh is not None and base.p50 > 0:
        value = mesh.p50 / base.p50
        verdict = "meets" if value <= LATENCY_TARGET else "MISSES"
        ratios.append(
            Ratio(
                "mesh / original (p50)",
                LATENCY_STREAMS,
                value,
                MESH_CASE,
                BASELINE_CASE,
                f"p50 latency vs per-frame time, target <= {LATENCY_TARGET:g}: {verdict}",
            )
        )
    return ratios


def describe_baseline() -> dict[str, Any]:
    return {"baseline": "original demonstrator's work: Haar 1.3/3 + OpenCV DNN YOLO, sequential, in-process"}
