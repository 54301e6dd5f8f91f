"""The recognition service as importable parts: flags, settings, start-up checks, `start`.

It serves v1 `Detector` for the aggregator, which sends it each frame with the face engine's
boxes as regions and merges the names it answers back onto those boxes, and v1 `Gallery` for
operators (enrol, forget, list, guarded by operator tokens). The gallery comes from the model
store: a channel watcher offers each new version to the engine's `ModelSlot`, which swaps it
in while frames run. dlib holds the GIL for a whole embedding, so the network runs in worker
processes (`--embed-workers`) and the gRPC threads stay free.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path

from facerecognition.editing import GalleryEditor
from facerecognition.engine import (
    DEFAULT_MIN_FACE,
    DEFAULT_THRESHOLD,
    RecognitionEngine,
    RecognitionSettings,
    gallery_slot,
)
from facerecognition.enrolment import DEFAULT_ENROL_MIN_FACE, ProcessEnroller
from facerecognition.model_files import RecognitionModelFiles
from facerecognition.refiner import RecognitionCounters, RecognitionRefiner, SourceTrackers
from facerecognition.servicer import GALLERY_PREFIX, GALLERY_SERVICE, GalleryServicer
from facerecognition.store import ARTEFACT_NAME, ENGINE, GalleryPlace, load_gallery
from liquidedge.config import EnvDefaultsParser, add_common_flags, check_common, parse_bool
from liquidedge.metrics import ServiceMetrics
from liquidedge.security import BearerTokens, holds_placeholder, read_tokens
from liquidedge.server import ServiceBinding
from liquidedge.service import ServiceHandle, image_limits, server_options, start_detector
from liquidedge.v1 import gallery_pb2_grpc
from modelstore import open_store
from modelstore.serving import add_serving_flags, check_serving_args, slot_watcher

DEFAULT_PORT = 50057
DEFAULT_METRICS_PORT = 9157
DEFAULT_STORE = "var/modelstore"


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(
        prog="facerecognition", description="Face recognition over gRPC: names the face boxes it is sent"
    )
    add_common_flags(parser, port=DEFAULT_PORT, metrics_port=DEFAULT_METRICS_PORT, max_in_flight=16)
    parser.env_flag(
        "--model-dir",
        "LIQUIDEDGE_MODEL_DIR",
        default="models",
        help="where `make recognition-models` put dlib's models",
    )
    add_serving_flags(parser, model_name=ARTEFACT_NAME, default_store=DEFAULT_STORE)
    parser.env_flag(
        "--threshold",
        "RECOGNITION_THRESHOLD",
        default=DEFAULT_THRESHOLD,
        type=float,
        help="largest embedding distance that names a face",
    )
    parser.env_flag(
        "--min-face",
        "RECOGNITION_MIN_FACE",
        default=DEFAULT_MIN_FACE,
        type=int,
        help="shorter box side in pixels below which a face is not embedded",
    )
    parser.env_flag(
        "--max-faces", "RECOGNITION_MAX_FACES", default=4, type=int, help="faces embedded per frame at most"
    )
    parser.env_flag(
        "--embed-workers",
        "RECOGNITION_WORKERS",
        default=1,
        type=int,
        help="embedding worker processes (one core each); 0 embeds in the server process (holds the GIL)",
    )
    parser.env_flag(
        "--aligners",
        "RECOGNITION_ALIGNERS",
        default=2,
        type=int,
        help="landmark predictors for concurrent frames",
    )
    parser.env_flag(
        "--track-reuse",
        "RECOGNITION_TRACK_REUSE",
        default=True,
        type=parse_bool,
        help="reuse a face's identity along its track within a source instead of embedding every frame",
    )
    parser.env_flag(
        "--max-sources",
        "RECOGNITION_MAX_SOURCES",
        default=256,
        type=int,
        help="sources whose face tracks are kept (least recently seen forgotten first)",
    )
    parser.env_flag(
        "--enrol-min-face",
        "ENROL_MIN_FACE",
        default=DEFAULT_ENROL_MIN_FACE,
        type=int,
        help="smallest face side in pixels accepted in an enrolment photo",
    )
    parser.env_flag(
        "--operator-tokens-file",
        "OPERATOR_TOKENS_FILE",
        default="",
        help="operators' bearer tokens (one per line) for the Gallery service; none: run-time changes are off",
    )
    return parser


def settings_from(args: argparse.Namespace) -> RecognitionSettings:
    """The engine's settings from the flags; raises ValueError on values the engine refuses."""
    return RecognitionSettings(
        threshold=args.threshold,
        min_face=args.min_face,
        max_faces=args.max_faces,
        workers=args.embed_workers,
        aligners=args.aligners,
    )


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    check_common(parser, args)
    check_serving_args(parser, args)
    if not args.model_store:
        parser.error("--model-store is required: the face gallery is served from the model store")
    if args.max_sources < 1 or args.enrol_min_face < 1:
        parser.error("--max-sources and --enrol-min-face must be at least 1")
    try:
        settings_from(args)
        if args.operator_tokens_file and holds_placeholder(args.operator_tokens_file):
            parser.error(
                f"{args.operator_tokens_file} still holds the placeholder token: put your operators' tokens in it"
            )
    except ValueError as error:
        parser.error(str(error))


def load_refiner(
    args: argparse.Namespace, metrics: ServiceMetrics, gallery: GalleryServicer
) -> RecognitionRefiner:
    """Models, worker processes, the gallery slot and its watcher, the editor; closed as one.

    The channel's version (if any) is loaded before the service says SERVING; with none yet
    the service serves anyway (every face "no gallery") and takes the first one published.
    """
    files = RecognitionModelFiles.in_dir(args.model_dir)
    slot = gallery_slot(metrics=metrics)
    with ExitStack() as stack:
        engine = RecognitionEngine.build(files, slot, settings_from(args))
        stack.callback(engine.close)
        stack.callback(slot.close)
        watcher = slot_watcher(args, slot, lambda local: load_gallery(local, files.model_id), engine=ENGINE)
        watcher.poll_once()
        watcher.start()
        stack.callback(watcher.stop)
        place = GalleryPlace(
            open_store(args.model_store, s3_endpoint=args.s3_endpoint),
            args.model_name,
            args.model_channel,
            Path(args.model_cache_dir),
        )
        enroller = ProcessEnroller(files.predictor, files.resnet, files.model_id, args.enrol_min_face)
        stack.callback(enroller.close)
        # A replica pinned to a version keeps it: its own changes reach the others, not itself.
        gallery.attach(
            GalleryEditor(place, enroller, None if args.model_version else slot, image_limits(args))
        )
        trackers = SourceTrackers(args.max_sources) if args.track_reuse else None
        closing = stack.pop_all()
    return RecognitionRefiner(engine, trackers, RecognitionCounters(metrics), on_close=closing.close)


def start(args: argparse.Namespace) -> ServiceHandle:
    """Serve recognition on `args.host:args.port` (0 picks a port); SERVING once the models load."""
    metrics = ServiceMetrics("facerecognition")
    operators = read_tokens(args.operator_tokens_file) if args.operator_tokens_file else None
    gallery = GalleryServicer(metrics, enabled=operators is not None)
    guards = () if operators is None else (BearerTokens(operators, (), guarded_prefixes=(GALLERY_PREFIX,)),)
    return start_detector(
        "facerecognition",
        "recognition",
        None,
        args,
        lambda: load_refiner(args, metrics, gallery),
        options=server_options(args, token_exempt=(GALLERY_PREFIX,), guards=guards),
        metrics=metrics,
        extra_bindings=(
            ServiceBinding(gallery, gallery_pb2_grpc.add_GalleryServicer_to_server, GALLERY_SERVICE),
        ),
    )
