"""Real photographs with people in them, from a registry package, checksum-verified.

The `face_recognition==1.3.0` source package ships its test photos (`tests/test_images/`:
Obama and Biden portraits, partial faces). We download the sdist with pip (never install
it), extract those files and check each SHA-256, as `model_fetch` does for YOLO. They
calibrate and check the INT8 model (`yolodetection.quantize`) and measure the face
detector's settings (`liquidedge.bench.face_tuning`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from yolodetection.model_fetch import extract_verified, sha256_of

log = logging.getLogger(__name__)

FACE_PHOTOS_PACKAGE = "face_recognition==1.3.0"
FACE_PHOTOS_MEMBER_DIR = "face_recognition-1.3.0/tests/test_images/"
FACE_PHOTOS_SHA256 = {
    "biden.jpg": "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
    "obama.jpg": "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
    "obama2.jpg": "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
    "obama3.jpg": "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
    "obama_partial_face.jpg": "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117",
    "obama_partial_face2.jpg": "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028",
}
DEFAULT_SUBDIR = "photos/face_recognition-1.3.0"


def photos_present(dest: Path) -> bool:
    return all(
        (dest / name).is_file() and sha256_of(dest / name) == digest
        for name, digest in FACE_PHOTOS_SHA256.items()
    )


def fetch_face_photos(dest: Path) -> Path:
    """The photos in `dest` (downloaded and verified unless already there); returns `dest`."""
    if not photos_present(dest):
        extract_verified(FACE_PHOTOS_PACKAGE, FACE_PHOTOS_MEMBER_DIR, FACE_PHOTOS_SHA256, dest)
        log.info("face photos fetched and verified into %s", dest)
    return dest


def load_face_photos(model_dir: str | Path) -> dict[str, np.ndarray]:
    """Name -> BGR image, fetching into `<model_dir>/photos/...` the first time."""
    root = fetch_face_photos(Path(model_dir) / DEFAULT_SUBDIR)
    photos = {}
    for name in FACE_PHOTOS_SHA256:
        image = cv2.imread(str(root / name), cv2.IMREAD_COLOR)
        if image is None:
            raise RuntimeError(f"could not decode {root / name}")
        photos[Path(name).stem] = image
    return photos
