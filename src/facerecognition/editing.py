"""Changing the gallery while the mesh runs: enrol, forget, list (what `Gallery` over gRPC does).

Every change is derived from the version the store's channel points at (not from what this
replica happens to serve), published as a new version, and the channel moved only if nobody
moved it meanwhile; otherwise it is derived again (`GalleryPlace.change`). So any replica can
take an operator's change, none is lost, and every replica watching the channel serves it
within its poll interval. The replica that made the change serves it at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from facerecognition.enrolment import EnrolledFace, Photo, UnreadablePhotoError
from facerecognition.gallery import Gallery, check_name
from facerecognition.store import GalleryPlace
from liquidedge.errors import BadImageError, FrameTooLargeError
from liquidedge.imaging import PNG_SIGNATURE, ImageLimits, check_frame, read_png_size
from liquidedge.modelslot import ModelSlot

log = logging.getLogger(__name__)


class PhotoTooLargeError(ValueError):
    """A photo over the byte or pixel limit, refused before it is decoded."""


def check_photo(photo: Photo, limits: ImageLimits) -> None:
    """Refuse a photo that is not a JPEG or PNG, or is too big, from its header alone."""
    data = photo.data
    if len(data) > limits.max_bytes:
        raise PhotoTooLargeError(f"{photo.name}: {len(data)} bytes, over the limit of {limits.max_bytes}")
    if data.startswith(PNG_SIGNATURE):
        try:
            width, height = read_png_size(data)
        except BadImageError as error:
            raise UnreadablePhotoError(photo.name, "a PNG without its header") from error
        if width * height > limits.max_pixels or max(width, height) > limits.max_side:
            raise PhotoTooLargeError(f"{photo.name}: {width}x{height} pixels, over the limit")
        return
    try:
        check_frame(data, limits)
    except FrameTooLargeError as error:
        raise PhotoTooLargeError(f"{photo.name}: {error}") from error
    except BadImageError as error:
        raise UnreadablePhotoError(photo.name, f"not a readable JPEG or PNG ({error})") from error


class PhotoEnroller(Protocol):
    """Photos of a person in, one embedding per photo out (or a refusal saying which and why)."""

    model_id: str

    def enrol_person(self, name: str, photos: Sequence[Photo]) -> list[EnrolledFace]: ...


class GalleryEditor:
    """Enrol and forget people in the gallery at `place`; this replica's `slot` serves each change."""

    def __init__(
        self,
        place: GalleryPlace,
        enroller: PhotoEnroller,
        slot: ModelSlot[Gallery] | None,
        limits: ImageLimits | None = None,
    ) -> None:
        self.place = place
        self.enroller = enroller
        self.slot = slot
        self.limits = limits or ImageLimits()
        self._lock = threading.Lock()  # one change at a time from this replica

    @property
    def model_id(self) -> str:
        return self.enroller.model_id

    def enroll(self, name: str, photos: Sequence[Photo], *, replace: bool = False) -> Gallery:
        """Embed `photos` of `name` (each must show one face) and publish a version with them."""
        check_name(name)
        if not photos:
            raise ValueError(f"no photos of {name!r} given")
        for photo in photos:
            check_photo(photo, self.limits)
        faces = self.enroller.enrol_person(name, photos)  # the embeddings: computed once
        new_vectors = np.stack([f.embedding for f in faces])
        new_sources = [f.source for f in faces]

        def make(parent: Gallery | None) -> Gallery:
            if parent is None:
                return Gallery.from_people(self.model_id, {name: (new_vectors, new_sources)})
            if replace:
                return parent.with_people({name: (new_vectors, new_sources)})
            kept, kept_sources = parent.faces_of(name)
            person = (np.concatenate([kept, new_vectors]), [*kept_sources, *new_sources])
            return parent.with_people({name: person})

        verb = "replaced photos of" if replace else "enrolled"
        return self._change(make, f"{verb} {name} ({len(photos)} photo(s))")

    def forget(self, name: str) -> Gallery:
        """Publish a version without `name` (KeyError when nobody of that name is enrolled)."""

        def make(parent: Gallery | None) -> Gallery:
            if parent is None:
                raise KeyError(f"{name!r} is not enrolled: no gallery is published yet")
            return parent.without(name)

        return self._change(make, f"forgot {name}")

    def current(self) -> Gallery | None:
        """The version the channel points at (what every replica serves once it has polled)."""
        return self.place.load_current(self.model_id)

    def _change(self, make: Callable[[Gallery | None], Gallery], note: str) -> Gallery:
        with self._lock:
            gallery = self.place.change(make, self.model_id, note)
        if self.slot is not None:
            self.slot.offer(gallery.version, lambda: gallery)
        log.info("gallery changed: %s", note, extra={"version": gallery.version, "note": note})
        return gallery
