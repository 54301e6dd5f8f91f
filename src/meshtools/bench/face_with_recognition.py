"""Placement A of issue 11, for the benchmark only: the face service recognising in the same call.

    python -m meshtools.bench.face_with_recognition --model-store DIR [face and recognition flags]

The production mesh runs recognition as its own service fed by the aggregator (placement B,
`facerecognition`). To measure what that placement costs, `make bench` also runs this: one
process that finds the faces with the Haar engine and names them with the same recognition
engine (worker processes, per-source track reuse, the same gallery from the store), answering
as the face engine. The aggregator in front of it is configured without a recognition
backend, so the two placements see the same frames and differ only in where recognition runs.
It lives with the tools: it is a measuring instrument, not a way to deploy.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from facedetection.engine import FaceEngine
from facedetection.service import build_parser as face_parser
from facedetection.service import settings_from as face_settings
from facerecognition.engine import RecognitionEngine, gallery_slot
from facerecognition.model_files import RecognitionModelFiles
from facerecognition.refiner import SourceTrackers
from facerecognition.service import settings_from as recognition_settings
from facerecognition.store import ARTEFACT_NAME, GalleryPlace
from liquidedge.detections import Detections
from liquidedge.engine import FrameContext
from liquidedge.service import ServiceHandle, service_main, start_detector
from modelstore import open_store


class FaceThenRecognition:
    """Finds faces, then names them, in one call (answers as the face engine)."""

    name = "face"

    def __init__(self, face: FaceEngine, recognition: RecognitionEngine, trackers: SourceTrackers) -> None:
        self.face = face
        self.recognition = recognition
        self.trackers = trackers

    def refine(
        self, image_bgr: np.ndarray, context: FrameContext, deadline: float | None = None
    ) -> Detections:
        # A refining engine by shape only: it needs the frame's source for the track reuse,
        # which the detector runner hands refining engines. It finds its own boxes.
        faces = self.face.detect(image_bgr, deadline=deadline)
        tracker = self.trackers.for_source(context.source_id)
        found = self.recognition.recognize(image_bgr, faces, deadline=deadline, tracker=tracker).detections
        return replace(found, meta={**found.meta, "model_version": self.recognition.slot.version or ""})

    def close(self) -> None:
        self.recognition.close()


def build_parser() -> argparse.ArgumentParser:
    parser = face_parser()
    parser.prog = "meshtools.bench.face_with_recognition"
    parser.env_flag("--model-dir", "LIQUIDEDGE_MODEL_DIR", default="models", help="dlib's models")
    # The face parser's --model-store and --model-cache-dir (its store flags) name the gallery's
    # store here: declared again, they would stop the parser with a conflict.
    parser.set_defaults(model_store=parser.get_default("model_store") or "var/modelstore")
    parser.env_flag("--embed-workers", "RECOGNITION_WORKERS", default=1, type=int, help="embedding processes")
    return parser


def recognition_args(args: argparse.Namespace) -> argparse.Namespace:
    """The recognition settings the separate service would run with (its defaults), same workers."""
    from facerecognition.service import build_parser as recognition_parser

    return recognition_parser().parse_args(["--embed-workers", str(args.embed_workers)])


def load(args: argparse.Namespace) -> FaceThenRecognition:
    files = RecognitionModelFiles.in_dir(args.model_dir)
    place = GalleryPlace(open_store(args.model_store), ARTEFACT_NAME, cache_dir=Path(args.model_cache_dir))
    gallery = place.load_current(files.model_id)
    if gallery is None:
        raise RuntimeError(f"no face gallery in {args.model_store}")
    settings = recognition_settings(recognition_args(args))
    recognition = RecognitionEngine.build(files, gallery_slot(gallery), settings)
    return FaceThenRecognition(FaceEngine(face_settings(args)), recognition, SourceTrackers())


def start(args: argparse.Namespace) -> ServiceHandle:
    return start_detector("face-with-recognition", "face", None, args, lambda: load(args))


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from facedetection.service import check_args as face_check

    face_check(parser, args)


def main(argv: list[str] | None = None) -> int:
    return service_main("face-with-recognition", build_parser, check_args, start, argv)


if __name__ == "__main__":
    sys.exit(main())
