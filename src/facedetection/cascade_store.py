"""The face service's Haar cascade served from a model store channel and replaced while it serves.

A cascade is a model like any other: a site may train its own (a camera angle, a mask-wearing
workforce) or move from OpenCV's frontal default to `alt2`. With `--model-store` the service
follows the `face-cascade` channel: a new version is fetched and checksum-verified, loaded beside
the serving one and smoke-tested (every classifier in the pool loads, a known frame runs through
it), then swapped in; a version that fails is refused and the old one keeps serving. Every answer
says which version found its faces.

    modelstore publish face-cascade DIR --engine face --format haar-cascade --promote production

where DIR holds `cascade.xml` (any OpenCV Haar or LBP cascade file).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace

import numpy as np

from facedetection.engine import FaceEngine, FaceSettings
from liquidedge.metrics import ServiceMetrics
from liquidedge.modelslot import ModelSlot
from modelstore.fetch import LocalVersion
from modelstore.serving import WatchedEngine, serve_from_store

log = logging.getLogger(__name__)

STORE_ENGINE = "face"
STORE_FORMAT = "haar-cascade"
CASCADE_FILE = "cascade.xml"
DEFAULT_MODEL_NAME = "face-cascade"


def load_cascade_version(local: LocalVersion, settings: FaceSettings) -> FaceEngine:
    """The version's cascade with the service's detection settings (they are configuration, not model)."""
    if local.manifest.format != STORE_FORMAT:
        raise ValueError(f"{local.name} {local.version} is {local.manifest.format!r}, not {STORE_FORMAT!r}")
    path = local.path / CASCADE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{local.name} {local.version} has no {CASCADE_FILE}")
    engine = FaceEngine(replace(settings, cascade_path=str(path)))  # loads every pooled classifier
    log.info("face cascade %s %s loaded", local.name, local.version, extra={"version": local.version})
    return engine


def known_frame() -> np.ndarray:
    """The smoke test's frame: a bright disc on a gradient, the same pixels every time."""
    y, x = np.mgrid[0:240, 0:320]
    frame = ((x + y) * 255 // 560).astype(np.uint8)
    frame[(x - 160) ** 2 + (y - 120) ** 2 < 60**2] = 230
    return np.stack([frame] * 3, axis=2)


def smoke_test(engine: FaceEngine) -> None:
    """A known frame through the cascade before it may serve: it runs and answers sane boxes."""
    found = engine.detect(known_frame())
    if len(found) and not np.isfinite(found.xyxy).all():
        raise ValueError("the smoke frame's face boxes are not finite numbers")


def load_store_engine(
    args: argparse.Namespace, settings: FaceSettings, metrics: ServiceMetrics
) -> WatchedEngine:
    """`--model-store`: the channel's cascade in a model slot, each new version loaded beside it."""
    slot: ModelSlot[FaceEngine] = ModelSlot(STORE_ENGINE, smoke=smoke_test, metrics=metrics)
    return serve_from_store(
        args, slot, lambda local: load_cascade_version(local, settings), engine=STORE_ENGINE
    )
