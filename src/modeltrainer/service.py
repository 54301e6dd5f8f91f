"""The trainer process: train once on a named dataset, or listen for dataset triggers.

    python -m modeltrainer --dataset edge1            # once, on the latest version of edge1
    python -m modeltrainer                            # wait for triggers (Kafka or the queue dir)

Each run prints one JSON line with the held-out accuracy, the serving version's accuracy
on the same images and whether the new version was published; the exit status of a single
run is 0 when published, 3 when refused as worse than the serving version.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from classification.features import DEFAULT_INPUT, DEFAULT_LAYER, BackboneFeatures
from liquidedge.config import EnvDefaultsParser, add_log_flags, parse_bool
from liquidedge.logs import configure_logging
from modelstore.cli import DEFAULT_CACHE, add_store_flags, add_trigger_flags, open_store_from
from modelstore.errors import ModelStoreError
from modelstore.events import TriggerSource, open_source
from modeltrainer.pipeline import Trainer, TrainOutcome, TrainSettings

log = logging.getLogger(__name__)

EXIT_REFUSED = 3


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="modeltrainer", description=__doc__.split("\n\n")[0])
    add_store_flags(parser)
    add_trigger_flags(parser)
    parser.env_flag("--cache-dir", "MODELSTORE_CACHE_DIR", default=DEFAULT_CACHE, help="verified downloads")
    parser.env_flag(
        "--model-dir", "LIQUIDEDGE_MODEL_DIR", default="models", help="directory `make models` fills"
    )
    parser.env_flag(
        "--backbone",
        "TRAINER_BACKBONE",
        default="yolov3-tiny",
        help="Darknet model whose layers give the features",
    )
    parser.env_flag(
        "--feature-layer",
        "TRAINER_FEATURE_LAYER",
        default=DEFAULT_LAYER,
        help="backbone layer pooled into features",
    )
    parser.env_flag(
        "--input-size",
        "TRAINER_INPUT_SIZE",
        default=DEFAULT_INPUT,
        type=int,
        help="backbone input side in pixels",
    )
    parser.env_flag("--model-name", "CLASSIFIER_MODEL", default="classifier", help="model name in the store")
    parser.env_flag(
        "--channel", "CLASSIFIER_CHANNEL", default="production", help="channel to compare with and promote"
    )
    parser.env_flag(
        "--promote",
        "TRAINER_PROMOTE",
        default=True,
        type=parse_bool,
        help="promote a published version to --channel",
    )
    parser.env_flag(
        "--holdout-fraction",
        "TRAINER_HOLDOUT_FRACTION",
        default=0.25,
        type=float,
        help="share of images held out",
    )
    parser.env_flag("--seed", "TRAINER_SEED", default=0, type=int, help="seed of the held-out split")
    parser.env_flag("--l2", "TRAINER_L2", default=0.01, type=float, help="L2 penalty of the head")
    parser.env_flag(
        "--max-iterations",
        "TRAINER_MAX_ITERATIONS",
        default=300,
        type=int,
        help="L-BFGS iterations of the head",
    )
    parser.env_flag("--dataset", "TRAINER_DATASET", default="", help="train once on this dataset, then exit")
    parser.env_flag(
        "--dataset-version",
        "TRAINER_DATASET_VERSION",
        default="",
        help="with --dataset: this version (default latest)",
    )
    parser.env_flag(
        "--kafka-group", "TRAINER_KAFKA_GROUP", default="modeltrainer", help="Kafka consumer group"
    )
    add_log_flags(parser)
    return parser


def settings_from(args: argparse.Namespace) -> TrainSettings:
    return TrainSettings(
        model_name=args.model_name,
        channel=args.channel,
        holdout_fraction=args.holdout_fraction,
        seed=args.seed,
        l2=args.l2,
        max_iterations=args.max_iterations,
        promote=args.promote,
    )


def build_trainer(args: argparse.Namespace) -> Trainer:
    model_dir = Path(args.model_dir)
    features = BackboneFeatures(
        model_dir / f"{args.backbone}.cfg",
        model_dir / f"{args.backbone}.weights",
        layer=args.feature_layer,
        input_size=args.input_size,
    )
    return Trainer(open_store_from(args), features, Path(args.cache_dir), settings_from(args))


def report(outcome: TrainOutcome, out: TextIO) -> None:
    print(json.dumps(outcome.to_dict(), sort_keys=True), file=out, flush=True)


def listen(
    trainer: Trainer, source: TriggerSource, stop: threading.Event, on_outcome: Callable[[TrainOutcome], None]
) -> None:
    """Train on every dataset trigger until `stop` is set; a failed run is logged, not fatal."""
    log.info("waiting for dataset triggers on %s", source.describe)
    while not stop.is_set():
        received = source.receive(timeout_s=1.0)
        if received is None:
            continue
        event = received.event
        try:
            outcome = trainer.train(event.dataset, event.version)
        except (ModelStoreError, LookupError, ValueError, OSError) as error:
            log.error("training on %s %s failed: %s", event.dataset, event.version, error)
            received.failed(str(error))
            continue
        except Exception as error:  # one bad run must not stop the trainer
            log.exception("training on %s %s failed unexpectedly", event.dataset, event.version)
            received.failed(f"unexpected: {error!r}")
            continue
        received.done()
        on_outcome(outcome)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging("modeltrainer", args.log_level, args.log_format)
    try:
        trainer = build_trainer(args)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    if args.dataset:
        try:
            outcome = trainer.train(args.dataset, args.dataset_version or None)
        except (ModelStoreError, LookupError, ValueError) as error:
            print(f"modeltrainer: error: {error}", file=sys.stderr)
            return 1
        report(outcome, sys.stdout)
        return 0 if outcome.published is not None else EXIT_REFUSED
    source = open_source(
        kafka_bootstrap=args.kafka_bootstrap,
        topic=args.kafka_topic,
        queue_dir=Path(args.trigger_dir),
        group=args.kafka_group,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        listen(trainer, source, stop, lambda outcome: report(outcome, sys.stdout))
    finally:
        source.close()
    return 0
