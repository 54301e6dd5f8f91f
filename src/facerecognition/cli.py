"""The gallery from the command line: enrol a folder of photos, forget, list, roll back.

    liquidedge-gallery enroll --faces photos/      the folder becomes the new gallery version
    liquidedge-gallery enroll --faces more/ --add  ... added to the current one instead
    liquidedge-gallery forget NAME                 a new version without NAME
    liquidedge-gallery list                        people and versions
    liquidedge-gallery use VERSION                 point the channel at an older version (roll back)
    liquidedge-gallery default                     obama + biden from the fetched photos, if the
                                                   channel has no gallery yet (what `make run` uses)

Every change publishes a new version to the model store and moves the channel; every running
recognition service watching that channel serves it within seconds, without a restart.
`python -m facerecognition.cli` runs the same program.
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
from facerecognition.store import ARTEFACT_NAME, DEFAULT_CHANNEL, GalleryPlace
from liquidedge.config import EnvDefaultsParser
from liquidedge.logs import configure_logging
from modelstore import ModelStoreError, open_store
from modelstore.fetch import DEFAULT_CACHE

log = logging.getLogger("facerecognition.cli")

# The default gallery: one photo each of two people from the fetched test photos; the
# others (obama2, obama3, ...) stay unseen, so `make run` shows recognition, not memory.
DEFAULT_PEOPLE = {"obama": "obama.jpg", "biden": "biden.jpg"}


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="liquidedge-gallery", description=__doc__.split("\n", 1)[0])
    parser.env_flag(
        "--model-store",
        "MODELSTORE_URL",
        default="var/modelstore",
        help="model store holding the gallery: a directory or s3://bucket/prefix",
    )
    parser.env_flag("--s3-endpoint", "MODELSTORE_S3_ENDPOINT", default="", help="S3 endpoint (MinIO, ...)")
    parser.env_flag(
        "--model-name", "MODEL_NAME", default=ARTEFACT_NAME, help="the gallery's name in the store"
    )
    parser.env_flag(
        "--model-channel", "MODEL_CHANNEL", default=DEFAULT_CHANNEL, help="the channel the services serve"
    )
    parser.env_flag(
        "--model-cache-dir",
        "MODELSTORE_CACHE_DIR",
        default=DEFAULT_CACHE,
        help="where versions are downloaded and verified",
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
    use = commands.add_parser("use", help="point the channel at a published version")
    use.add_argument("version")
    default = commands.add_parser("default", help="build the default gallery if none is published")
    default.add_argument("--force", action="store_true", help="build it even if a gallery is published")
    return parser


def _enroller(model_dir: str, min_face: int) -> Enroller:
    files = RecognitionModelFiles.in_dir(model_dir)
    files.check()
    return Enroller(FaceAligner(files.predictor, 1), LocalEmbedder(files.resnet), files.model_id, min_face)


def _report(gallery: Gallery, what: str) -> None:
    log.info(
        "%s: version %s published with %d people: %s",
        what,
        gallery.version,
        len(gallery.people),
        ", ".join(gallery.people),
    )


def _list(place: GalleryPlace, model_id: str) -> None:
    current = place.current_version()
    gallery = place.load_current(model_id)
    print(f"{place.name} channel {place.channel}: {current or '(none)'}")
    if gallery is not None:
        for person in gallery.people:
            print(f"  {person}: {gallery.names.count(person)} photo(s)")
    for stored in place.store.versions(place.name):
        mark = "  <- current" if stored.version == current else ""
        print(f"version {stored.version}{mark}")


def run(args: argparse.Namespace) -> int:
    place = GalleryPlace(
        open_store(args.model_store, s3_endpoint=args.s3_endpoint),
        args.model_name,
        args.model_channel,
        Path(args.model_cache_dir),
    )
    command = args.command
    model_dir, min_face = args.model_dir, args.min_face
    model_id = RecognitionModelFiles.in_dir(model_dir).model_id
    if command == "enroll":
        enroller = _enroller(model_dir, min_face)
        people = read_folder(args.faces)
        made = place.change(lambda parent: enroller.build(people, parent if args.add else None), model_id)
        _report(made, "enrolled")
    elif command == "default":
        if place.current_version() is not None and not args.force:
            log.info("a gallery is already published (%s %s); kept", place.name, place.channel)
            return 0
        folder = photo_dir(model_dir)
        people = {name: [Photo(file, (folder / file).read_bytes())] for name, file in DEFAULT_PEOPLE.items()}
        enroller = _enroller(model_dir, min_face)
        _report(place.change(lambda _parent: enroller.build(people), model_id), "default gallery")
    elif command == "forget":

        def without(parent: Gallery | None) -> Gallery:
            if parent is None:
                raise KeyError(f"no gallery published in {place.store.url}")
            return parent.without(args.name)

        _report(place.change(without, model_id), f"forgot {args.name}")
    elif command == "use":
        place.load(args.version, model_id)  # refuse a version this model cannot use
        place.store.promote(place.name, args.version, place.channel, note="liquidedge-gallery use")
    elif command == "list":
        _list(place, model_id)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("liquidedge-gallery", level=args.log_level, fmt="text")
    try:
        return run(args)
    except (
        EnrolmentError,
        InvalidNameError,
        GalleryError,
        KeyError,
        FileNotFoundError,
        ModelStoreError,
    ) as error:
        log.error("%s", error.args[0] if isinstance(error, KeyError) else error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
