"""The classification service: the engine behind v1 `Detector`, its model from a store channel.

Its model only ever comes from the model store (the trainer publishes it there), so the store
is on by default (`var/modelstore`, as `make run` and the store CLI use). Each version of the
channel is loaded beside the serving one, smoke-tested and swapped in while frames run
(`liquidedge.modelslot`); every answer's engine status names the version. A head is useless on
other features, so the backbone it was trained on (`--model-dir`, `--backbone`) is checked
against it when it loads; backbones are loaded once and shared by the versions that use them.

Two modes (`--mode`): `frames` (the engine `classifier`) answers each frame as one box covering
it, labelled with its class; `crops` (the refining engine `classifier-crops`) answers the class
of each box the aggregator sends as the request's regions (the boxes of chosen YOLO classes).
Either way `class`, `class_confidence` and `model_version` are in the boxes' attributes.
"""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path

import numpy as np

from classification.engine import ENGINE_NAME, ClassificationEngine
from classification.features import BackboneFeatures
from classification.model import ENGINE as STORE_ENGINE
from classification.model import ClassifierModel
from classification.refiner import REFINER_NAME, CropRefiner
from liquidedge.config import EnvDefaultsParser, add_common_flags, check_common
from liquidedge.engine import Engine, RefiningEngine
from liquidedge.metrics import ServiceMetrics
from liquidedge.modelslot import ModelSlot
from liquidedge.service import ServiceHandle, start_detector
from modelstore.cli import DEFAULT_STORE
from modelstore.fetch import LocalVersion
from modelstore.serving import add_serving_flags, check_serving_args, serve_from_store

log = logging.getLogger(__name__)

DEFAULT_PORT = 50059
DEFAULT_METRICS_PORT = 9159
DEFAULT_MODEL = "classifier"
MODES = {"frames": ENGINE_NAME, "crops": REFINER_NAME}  # mode -> the engine name it serves as


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="classification", description="Image classification over gRPC")
    add_common_flags(parser, port=DEFAULT_PORT, metrics_port=DEFAULT_METRICS_PORT, max_in_flight=16)
    add_serving_flags(parser, model_name=DEFAULT_MODEL, default_store=DEFAULT_STORE)
    parser.env_flag(
        "--model-dir", "LIQUIDEDGE_MODEL_DIR", default="models", help="directory `make models` fills"
    )
    parser.env_flag(
        "--backbone",
        "CLASSIFIER_BACKBONE",
        default="yolov3-tiny",
        help="Darknet model whose features the heads were trained on: <model-dir>/<backbone>.cfg, .weights",
    )
    parser.env_flag(
        "--instances", "CLASSIFIER_INSTANCES", default=2, type=int, help="backbone networks run in parallel"
    )
    parser.env_flag(
        "--mode",
        "CLASSIFIER_MODE",
        default="frames",
        choices=list(MODES),
        help="frames: label whole frames (engine classifier); crops: label the boxes the aggregator "
        "sends as regions (engine classifier-crops)",
    )
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every start-up check, as `parser.error`: common flags, store flags, backbone files."""
    check_common(parser, args)
    check_serving_args(parser, args)
    if not args.model_store:
        parser.error("--model-store is required: the classifier's model comes from the model store")
    if args.instances < 1:
        parser.error(f"--instances must be at least 1, got {args.instances}")
    for path in backbone_files(args):
        if not path.is_file():
            parser.error(f"backbone file missing: {path} (run `make models`)")


def backbone_files(args: argparse.Namespace) -> tuple[Path, Path]:
    root = Path(args.model_dir)
    return root / f"{args.backbone}.cfg", root / f"{args.backbone}.weights"


class Backbones:
    """The backbone at each (layer, input size) the served heads use, loaded once per service."""

    def __init__(self, cfg: Path, weights: Path, instances: int) -> None:
        self.cfg, self.weights, self.instances = cfg, weights, instances
        self._loaded: dict[tuple[str, int], BackboneFeatures] = {}
        self._lock = threading.Lock()

    def get(self, layer: str, input_size: int) -> BackboneFeatures:
        with self._lock:
            key = (layer, input_size)
            if key not in self._loaded:
                self._loaded[key] = BackboneFeatures(
                    self.cfg, self.weights, layer=layer, input_size=input_size, instances=self.instances
                )
            return self._loaded[key]


def load_version(local: LocalVersion, backbones: Backbones) -> ClassificationEngine:
    """A classifier version on the backbone its head was trained on (refused if it differs)."""
    model = ClassifierModel.load(local.path)
    features = backbones.get(model.backbone.layer, model.backbone.input_size)
    engine = ClassificationEngine(model, features, version=local.version)
    log.info(
        "classifier %s %s loaded: %s",
        local.name,
        local.version,
        ", ".join(model.labels),
        extra={"version": local.version, "labels": list(model.labels)},
    )
    return engine


def known_frame() -> np.ndarray:
    """The smoke test's frame: the same pixels every time."""
    y, x = np.mgrid[0:240, 0:320]
    return np.stack([x * 255 // 320, y * 255 // 240, (x ^ y) & 0xFF], axis=2).astype(np.uint8)


def smoke_test(engine: ClassificationEngine) -> None:
    """A known frame through the head before it may serve: one of its labels, a real probability."""
    labels, confidence = engine.classify([known_frame()])
    if len(labels) != 1 or labels[0] not in engine.labels:
        raise ValueError(f"the smoke frame was labelled {list(labels)}, not one of {engine.labels}")
    if not (np.isfinite(confidence).all() and 0.0 <= float(confidence[0]) <= 1.0):
        raise ValueError(f"the smoke frame's confidence is {confidence.tolist()}, not a probability")


def start(args: argparse.Namespace) -> ServiceHandle:
    """Serve classification on `args.host:args.port` (0 picks a port); SERVING once a version loads."""
    metrics = ServiceMetrics("classification")
    backbones = Backbones(*backbone_files(args), args.instances)

    engine_name = MODES[args.mode]

    def load() -> Engine | RefiningEngine:
        slot: ModelSlot[ClassificationEngine] = ModelSlot(engine_name, smoke=smoke_test, metrics=metrics)
        crops = None if args.mode == "frames" else lambda _slot_engine: CropRefiner(slot)
        return serve_from_store(
            args, slot, lambda local: load_version(local, backbones), engine=STORE_ENGINE, wrap=crops
        )

    return start_detector("classification", engine_name, None, args, load, metrics=metrics)
