"""YOLO versions from the model store: a version's files, loading it beside the serving one,
and the smoke test it must pass before it serves.

A version in the store is a Darknet triple (format `darknet`: one `.cfg`, one `.weights`, one
`.names` file). The service loads it with the backend its flags choose, exactly as it loads the
files of `--model-dir`; for OpenVINO and ONNX Runtime a version not converted before is
converted first, in a child process at a lower CPU priority, so the frames still running on the
serving version keep the service's cores and its GIL (the conversion is cached by the files'
SHA-256, as at start-up). The class names always come from the version itself: a version that
only renames classes is a new version.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liquidedge.detections import Detections
from modelstore.fetch import LocalVersion
from yolodetection.backends.factory import Selected, module_available
from yolodetection.backends.onnx_model import converted_dir
from yolodetection.engine import YoloEngine, make_blob
from yolodetection.model_files import ModelFiles
from yolodetection.onnx_export import convert_in_child, find_converted, reweight_cached

log = logging.getLogger(__name__)

STORE_ENGINE = "yolo"
STORE_FORMAT = "darknet"
GRAPH_BACKENDS = ("auto", "openvino", "onnxruntime")


def version_files(local: LocalVersion) -> ModelFiles:
    """The cfg, weights and class names of a `darknet` version: exactly one file of each suffix."""
    if local.manifest.format != STORE_FORMAT:
        raise ValueError(
            f"{local.name} {local.version} is format {local.manifest.format!r}; "
            f"the YOLO service loads {STORE_FORMAT!r} versions"
        )
    found: dict[str, list[Path]] = {".cfg": [], ".weights": [], ".names": []}
    for entry in local.manifest.files:
        suffix = Path(entry.path).suffix
        if suffix in found:
            found[suffix].append(local.file(entry.path))
    wrong = {suffix: len(paths) for suffix, paths in found.items() if len(paths) != 1}
    if wrong:
        counts = ", ".join(f"{count} {suffix}" for suffix, count in wrong.items())
        raise ValueError(
            f"{local.name} {local.version} must hold one .cfg, one .weights and one .names file ({counts})"
        )
    return ModelFiles(cfg=found[".cfg"][0], weights=found[".weights"][0], names=found[".names"][0])


def known_frame(width: int = 640, height: int = 480) -> np.ndarray:
    """The smoke test's frame: the same pixels every time (gradients and a few solid blocks)."""
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=2)
    frame = frame.astype(np.uint8)
    for i, (left, top) in enumerate(((80, 60), (320, 200), (460, 80))):
        frame[top : top + 120, left : left + 90] = (40 * i, 200 - 50 * i, 120)
    return frame


def smoke_test(model: StoreModel) -> None:
    """A known frame through the network before the version may serve.

    Every output layer must give rows of 5 + (number of class names) columns, all finite: a
    names file that does not match the network (79 names for an 80-class network), a broken
    conversion or NaN weights are refused here, not discovered on a robot's frame.
    """
    engine = model.engine
    frame = known_frame()
    outputs = engine.backend.forward(make_blob([frame], engine.input_wh))
    expected = 5 + len(engine.class_names)
    for index, layer in enumerate(outputs):
        if layer.ndim != 3 or layer.shape[0] != 1 or layer.shape[-1] != expected:
            raise ValueError(
                f"output layer {index} has shape {tuple(layer.shape)}: rows of {layer.shape[-1]} columns, "
                f"expected 5 + {len(engine.class_names)} class names = {expected}"
            )
        if not np.isfinite(layer).all():
            raise ValueError(f"output layer {index} holds NaN or infinite values")
    engine.detect_batch([frame])


@dataclass
class StoreModel:
    """A loaded version: the engine that runs it, and the backend choice behind it (reported once
    the version serves)."""

    engine: YoloEngine
    selected: Selected
    max_batch: int

    def detect_batch(self, images_bgr: list[np.ndarray]) -> list[Detections]:
        return self.engine.detect_batch(images_bgr)

    def warm_up(self) -> None:
        self.engine.warm_up()

    def close(self) -> None:
        self.engine.close()


def preconvert(args: argparse.Namespace, files: ModelFiles) -> None:
    """Convert the version for the graph backends, when they will read it.

    New weights for a network converted before need no torch (`onnx_reweight`; the image's own
    conversion of its baked-in model, `<model-dir>/converted`, is a template too when the cache
    is elsewhere, as on a pod's writable volume). A new network is converted by torch in a child
    process; without torch it is not converted here, and `auto` then falls back to OpenCV DNN
    (and says so) while an explicit graph backend refuses the version.
    """
    if args.backend not in GRAPH_BACKENDS or args.onnx:
        return
    if args.backend == "auto" and not module_available("openvino"):
        return
    cache = converted_dir(args.model_dir, args.converted_dir)
    templates = (converted_dir(args.model_dir),)
    if module_available("torch"):
        convert_in_child(files, cache, template_dirs=templates)
    elif find_converted(files, cache) is None:
        reweight_cached(files, cache, template_dirs=templates)


Build = Callable[[ModelFiles], tuple[YoloEngine, Selected, int]]


def load_store_version(args: argparse.Namespace, local: LocalVersion, build: Build) -> StoreModel:
    """Load and warm `local` with `build` (the service's own recipe: backend, thresholds, warm-up)."""
    files = version_files(local)
    preconvert(args, files)
    engine, selected, max_batch = build(files)
    log.info(
        "YOLO %s %s loaded on %s (%d classes)",
        local.name,
        local.version,
        selected.backend.name,
        len(engine.class_names),
        extra={"version": local.version, "backend": selected.backend.name},
    )
    return StoreModel(engine, selected, max_batch)


def prune_conversions(args: argparse.Namespace, serving: StoreModel, served: list[str]) -> list[str]:
    """Remove the conversions of the versions served before `serving` (`served`, which then
    names `serving`'s alone): a pod's cache volume would fill up over many versions. Only a
    converted cache of the service's own is pruned, never `<model-dir>/converted` (where `make
    convert` and the image put theirs: the templates new weights are put into), and only what
    this process served (another sharing the cache may be converting a version of its own)."""
    cache = converted_dir(args.model_dir, args.converted_dir)
    keep = str(getattr(serving.selected.backend, "version", ""))
    earlier, served[:] = [name for name in served if name != keep], [keep] if keep else []
    if cache.resolve() == converted_dir(args.model_dir).resolve():
        return []
    removed = []
    for name in earlier:
        if (cache / name).is_dir():
            shutil.rmtree(cache / name, ignore_errors=True)
            removed.append(name)
    if removed:
        log.info("removed %d conversions no version serves any more: %s", len(removed), removed)
    return removed
