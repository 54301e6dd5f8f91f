"""The gallery from the command line: enrol a folder of photos, forget, list, roll back.

    liquidedge-gallery enroll --faces photos/      the folder becomes the new gallery version
    liquidedge-gallery enroll --faces more/ --add  ... added to the current one instead
    liquidedge-gallery forget NAME                 a new version without NAME
    liquidedge-gallery list                        people and versions
    liquidedge-gallery use VERSION                 publish an older version again (roll back)
    liquidedge-gallery default                     obama + biden from the fetched photos, if no
                                                   gallery exists yet (what `make run` uses)

Every change saves a new version atomically and publishes it; a running engine picks it up
(`GalleryHolder.refresh`). `python -m facerecognition.cli` runs the same program.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from facerecognition.embedder import FaceAligner, LocalEmbedder
from facerecognition.enrolment import DEFAULT_ENROL_MIN_FACE, Enroller, EnrolmentError, Photo, read_folder
from facerecognition.gallery import Gallery, GalleryError, InvalidNameError
from facerecognition.model_files import RecognitionModelFiles, photo_dir
from facerecognition.store import GalleryStore
from liquidedge.config import EnvDefaultsParser
from liquidedge.logs import configure_logging

log = logging.getLogger("facerecognition.cli")

# The default gallery: one photo each of two people from the fetched test photos; the
# others (obama2, obama3, ...) stay unseen, so `make run` shows recognition, not memory.
DEFAULT_PEOPLE = {"obama": "obama.jpg", "biden": "biden.jpg"}


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="liquidedge-gallery", description=__doc__.split("\n", 1)[0])
    parser.env_flag(
        "--gallery-dir", "GALLERY_DIR", default="gallery", help="gallery directory (versions + CURRENT)"
    )
    parser.env_flag(
        "--model-dir",
        "LIQUIDEDGE_MODEL_DIR",
        default="models",
        help="directory `make recognition-models` fills",
    )
    parser.env_flag(
        "--min-face",
        "ENROL_MIN_FACE",
        default=DEFAULT_ENROL_MIN_FACE,
        type=int,
        help="smallest face side in pixels accepted in an enrolment photo",
    )
    parser.env_flag("--log-level", "LOG_LEVEL", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    commands = parser.add_subparsers(dest="command", required=True)
    enroll = commands.add_parser("enroll", help="enrol a folder of photos (NAME.jpg or NAME/*.jpg)")
    enroll.add_argument("--faces", required=True, type=Path, help="folder of photos")
    enroll.add_argument(
        "--add", action="store_true", help="add to the current gallery instead of replacing it"
    )
    forget = commands.add_parser("forget", help="make a version without a person")
    forget.add_argument("name")
    commands.add_parser("list", help="people in the current version, and all versions")
    use = commands.add_parser("use", help="publish a saved version again")
    use.add_argument("version")
    default = commands.add_parser("default", help="build the default gallery if none exists")
    default.add_argument("--force", action="store_true", help="build it even if a gallery exists")
    return parser


def _enroller(model_dir: str, min_face: int) -> Enroller:
    files = RecognitionModelFiles.in_dir(model_dir)
    files.check()
    return Enroller(FaceAligner(files.predictor, 1), LocalEmbedder(files.resnet), files.model_id, min_face)


def _current(store: GalleryStore, model_id: str) -> Gallery | None:
    return store.load_current(model_id)


def _publish(store: GalleryStore, gallery: Gallery, what: str) -> None:
    store.save_and_publish(gallery)
    log.info(
        "%s: version %s published with %d people: %s",
        what,
        gallery.version,
        len(gallery.people),
        ", ".join(gallery.people),
    )


def run(args: argparse.Namespace) -> int:
    store = GalleryStore(args.gallery_dir)
    command = args.command
    model_dir, min_face = args.model_dir, args.min_face
    if command == "enroll":
        enroller = _enroller(model_dir, min_face)
        parent = _current(store, enroller.model_id) if args.add else None
        _publish(store, enroller.build(read_folder(args.faces), parent), "enrolled")
    elif command == "default":
        if store.current_version() is not None and not args.force:
            log.info("a gallery is already published in %s; kept (use --force to rebuild)", store.root)
            return 0
        folder = photo_dir(model_dir)
        people = {name: [Photo(file, (folder / file).read_bytes())] for name, file in DEFAULT_PEOPLE.items()}
        _publish(store, _enroller(model_dir, min_face).build(people), "default gallery")
    elif command == "forget":
        model_id = RecognitionModelFiles.in_dir(model_dir).model_id
        gallery = _current(store, model_id)
        if gallery is None:
            raise KeyError(f"no gallery published in {store.root}")
        _publish(store, gallery.without(args.name), f"forgot {args.name}")
    elif command == "use":
        store.load(args.version, RecognitionModelFiles.in_dir(model_dir).model_id)
        store.publish(args.version)
    elif command == "list":
        current = store.current_version()
        gallery = _current(store, RecognitionModelFiles.in_dir(model_dir).model_id)
        print(f"current: {current or '(none)'}")
        if gallery is not None:
            for person in gallery.people:
                print(f"  {person}: {gallery.names.count(person)} photo(s)")
        for version in store.versions():
            print(f"version {version}{'  <- current' if version == current else ''}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("liquidedge-gallery", level=args.log_level, fmt="text")
    try:
        return run(args)
    except (EnrolmentError, InvalidNameError, GalleryError, KeyError, FileNotFoundError) as error:
        log.error("%s", error.args[0] if isinstance(error, KeyError) else error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
