"""Enrolment: photos of people in, a new gallery version out (pure operations, no I/O but reads).

A folder of photos becomes a gallery: `NAME.jpg` is one photo of NAME, `NAME/*.jpg` several.
Each photo must show exactly one face big enough for a reliable embedding; anything else is
refused with an exception that says which, so a servicer can map each to a status code.

Faces are found with dlib's HOG frontal detector (built into dlib, no model file): enrolment
is rare and offline, so it can afford a better detector than the per-frame Haar cascade.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np

from facerecognition.embedder import Embedder, FaceAligner, LocalEmbedder
from facerecognition.gallery import Gallery, Source, check_name
from liquidedge.engine import InstancePool

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
# Smallest face side (pixels, dlib's box) enrolled: stricter than recognition's minimum,
# since one poor reference photo would mislead every later match against that person.
DEFAULT_ENROL_MIN_FACE = 80
# Photos are searched for faces at most this many pixels on their longer side (HOG on a
# 2000-pixel photo costs seconds); the face is then aligned on the full-resolution photo.
_DETECT_MAX_SIDE = 800


class EnrolmentError(ValueError):
    """A photo that cannot be enrolled; `photo` names it."""

    def __init__(self, photo: str, message: str) -> None:
        super().__init__(f"{photo}: {message}")
        self.photo = photo
        self.reason = message

    def __reduce__(self) -> tuple[type[EnrolmentError], tuple[str, str]]:
        # Raised in an enrolment worker process and re-raised in the service: keep the type.
        return type(self), (self.photo, self.reason)


class UnreadablePhotoError(EnrolmentError):
    """Not an image we can decode."""


class NoFaceError(EnrolmentError):
    """No face found."""


class MultipleFacesError(EnrolmentError):
    """More than one face big enough to be the person: which one is meant is ambiguous."""


class FaceTooSmallError(EnrolmentError):
    """A face, but too small for a reliable embedding."""


@dataclass(frozen=True)
class Photo:
    name: str  # where it came from, for messages and the gallery's sources
    data: bytes  # the encoded file (JPEG or PNG)


@dataclass(frozen=True)
class EnrolledFace:
    embedding: np.ndarray
    source: Source


class Enroller:
    """Finds the one face in a photo and embeds it, with the recognition engine's models."""

    def __init__(
        self,
        aligner: FaceAligner,
        embedder: Embedder,
        model_id: str,
        min_face: int = DEFAULT_ENROL_MIN_FACE,
        detectors: int = 1,
    ) -> None:
        self.aligner = aligner
        self.embedder = embedder
        self.model_id = model_id
        self.min_face = min_face
        self._detectors = InstancePool(dlib.get_frontal_face_detector, detectors)

    def detect_faces(self, image_bgr: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Every face dlib's detector finds, as (x1, y1, x2, y2) in the photo's pixels."""
        height, width = image_bgr.shape[:2]
        scale = min(1.0, _DETECT_MAX_SIDE / max(height, width))
        small = (
            image_bgr
            if scale == 1.0
            else cv2.resize(image_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        with self._detectors.borrow() as detector:
            rects = detector(rgb, 1)  # upsample once: finds faces down to ~40 px of `small`
        return [
            (
                max(0, round(r.left() / scale)),
                max(0, round(r.top() / scale)),
                min(width, round((r.right() + 1) / scale)),
                min(height, round((r.bottom() + 1) / scale)),
            )
            for r in rects
        ]

    def find_face(self, image_bgr: np.ndarray, photo: str) -> tuple[int, int, int, int]:
        """The single face's box (x1, y1, x2, y2) in the photo, or the reason there is none."""
        boxes = self.detect_faces(image_bgr)
        big = [b for b in boxes if min(b[2] - b[0], b[3] - b[1]) >= self.min_face]
        if len(big) > 1:
            raise MultipleFacesError(
                photo, f"{len(big)} faces of {self.min_face} px or more; one photo must show one person"
            )
        if len(big) == 1:
            return big[0]
        if boxes:
            side = max(min(b[2] - b[0], b[3] - b[1]) for b in boxes)
            raise FaceTooSmallError(photo, f"the face is {side} px, at least {self.min_face} px is needed")
        raise NoFaceError(photo, "no face found")

    def enrol_photo(self, photo: Photo) -> EnrolledFace:
        image = cv2.imdecode(np.frombuffer(photo.data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise UnreadablePhotoError(photo.name, "not a readable JPEG or PNG image")
        box = self.find_face(image, photo.name)
        (embedding,) = self.embedder.embed([self.aligner.chip(image, box)])
        if embedding is None:  # no deadline was given, so the embedder always answers
            raise RuntimeError("embedder returned no embedding without a deadline")
        return EnrolledFace(embedding, Source(photo.name, hashlib.sha256(photo.data).hexdigest(), box))

    def enrol_person(self, name: str, photos: Sequence[Photo]) -> list[EnrolledFace]:
        check_name(name)
        if not photos:
            raise ValueError(f"no photos given for {name!r}")
        return [self.enrol_photo(p) for p in photos]

    def build(self, people: Mapping[str, Sequence[Photo]], parent: Gallery | None = None) -> Gallery:
        """One new version: `parent`'s people (if given) plus `people`, who replace same-named ones."""
        faces = {name: self.enrol_person(name, people[name]) for name in sorted(people)}
        enrolled = {
            name: (np.stack([f.embedding for f in found]), [f.source for f in found])
            for name, found in faces.items()
        }
        if parent is None:
            return Gallery.from_people(self.model_id, enrolled)
        if parent.model_id != self.model_id:
            raise ValueError(f"parent gallery uses model {parent.model_id!r}, the enroller {self.model_id!r}")
        return parent.with_people(enrolled)


# Worker-process state: one enroller per enrolment worker, built by the pool's initializer.
_worker_enroller: Enroller | None = None


def _init_enrol_worker(predictor: str, resnet: str, model_id: str, min_face: int) -> None:
    global _worker_enroller
    _worker_enroller = Enroller(
        FaceAligner(Path(predictor), 1), LocalEmbedder(Path(resnet)), model_id, min_face
    )


def _ready() -> bool:
    return _worker_enroller is not None


def _enrol_in_worker(photo: Photo) -> EnrolledFace:
    if _worker_enroller is None:
        raise RuntimeError("enrolment worker was not initialised")
    return _worker_enroller.enrol_photo(photo)


class ProcessEnroller:
    """Enrolment in a worker process of its own, for a service taking photos while it serves.

    Finding the face (dlib's HOG detector, up to a second on a large photo) and embedding it
    hold the GIL for the whole call: in the server process that would stall every frame and
    health check meanwhile. The worker is started (and its models loaded) when this is made,
    which a service does before it says SERVING, so an enrolment never costs a start-up burst
    of CPU beside the frames being served.
    """

    def __init__(
        self, predictor: Path, resnet: Path, model_id: str, min_face: int = DEFAULT_ENROL_MIN_FACE
    ) -> None:
        self.model_id = model_id
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_enrol_worker,
            initargs=(str(predictor), str(resnet), model_id, min_face),
        )
        try:
            self._pool.submit(_ready).result()
        except BaseException:
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise

    def enrol_person(self, name: str, photos: Sequence[Photo]) -> list[EnrolledFace]:
        check_name(name)
        if not photos:
            raise ValueError(f"no photos given for {name!r}")
        return [future.result() for future in [self._pool.submit(_enrol_in_worker, p) for p in photos]]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def read_folder(folder: Path) -> dict[str, list[Photo]]:
    """`NAME.jpg` and `NAME/*.jpg` (also .jpeg, .png) -> {NAME: photos}; names are checked."""
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder of photos: {folder}")
    people: dict[str, list[Photo]] = {}

    def add(name: str, files: Iterable[Path]) -> None:
        photos = [
            Photo(f"{f.parent.name}/{f.name}" if f.parent != folder else f.name, f.read_bytes())
            for f in files
        ]
        if photos:
            people.setdefault(check_name(name), []).extend(photos)

    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            add(entry.name, sorted(p for p in entry.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES))
        elif entry.suffix.lower() in PHOTO_SUFFIXES:
            add(entry.stem, [entry])
    if not people:
        raise FileNotFoundError(f"no photos (NAME.jpg or NAME/*.jpg) in {folder}")
    return people
