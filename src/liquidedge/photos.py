"""Real photographs of people, from a registry package, checksum-verified: one set for the house.

The `face_recognition==1.3.0` source package ships its test photos (`tests/test_images/`: three
portraits of Obama, one of Biden, two partial faces). We download the sdist with pip (never
install it) and keep those files under `<model dir>/face-photos/`. They enrol the default face
gallery and test recognition, measure the face detector's settings, and calibrate and check the
INT8 YOLO model: real faces, not synthetic ones, wherever a figure depends on faces.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from liquidedge.package_files import PackageFile, fetch_package_files

PHOTOS_PACKAGE = "face_recognition==1.3.0"
PHOTO_DIR = "face-photos"
_MEMBER_DIR = "face_recognition-1.3.0/tests/test_images/"
# 32bit.png, also in that folder, is obama2.jpg again with an alpha channel: left out.
_SHA256 = {
    "obama.jpg": "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
    "obama2.jpg": "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
    "obama3.jpg": "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
    "biden.jpg": "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
    "obama_partial_face.jpg": "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117",
    "obama_partial_face2.jpg": "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028",
}
PHOTO_FILES = tuple(
    PackageFile(_MEMBER_DIR + name, f"{PHOTO_DIR}/{name}", digest) for name, digest in _SHA256.items()
)


def fetch_face_photos(model_dir: str | Path) -> Path:
    """The photos under `<model_dir>/face-photos` (downloaded and verified unless there)."""
    fetch_package_files(PHOTOS_PACKAGE, PHOTO_FILES, Path(model_dir))
    return Path(model_dir) / PHOTO_DIR


def load_face_photos(model_dir: str | Path) -> dict[str, np.ndarray]:
    """Name (file stem) -> BGR image, fetching the photos the first time."""
    root = fetch_face_photos(model_dir)
    photos = {}
    for name in _SHA256:
        image = cv2.imread(str(root / name), cv2.IMREAD_COLOR)
        if image is None:
            raise RuntimeError(f"could not decode {root / name}")
        photos[Path(name).stem] = image
    return photos
