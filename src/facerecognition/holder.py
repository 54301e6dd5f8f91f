"""The gallery a running engine matches against, swapped atomically when a new one is published.

Readers take `holder.current` once per frame and use that object for the whole frame, so a
frame is matched against exactly one version. A new version is loaded and validated beside the
old one, then swapped in by a single reference assignment; the old one is freed when the last
frame using it is done. A version that fails to load is refused (logged once) and the holder
keeps serving the version it has.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from facerecognition.gallery import Gallery, GalleryError, IncompatibleGalleryError
from facerecognition.store import GalleryStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refresh:
    """What one `refresh()` did: swapped to `version`, found nothing new, or refused it."""

    changed: bool
    version: str | None
    error: str | None = None


class GalleryHolder:
    def __init__(
        self, model_id: str, store: GalleryStore | None = None, gallery: Gallery | None = None
    ) -> None:
        self.model_id = model_id
        self.store = store
        self._current: Gallery | None = None
        self._refused: dict[str, str] = {}
        self._lock = threading.Lock()  # one load at a time; readers never take it
        if gallery is not None:
            self.swap(gallery)

    @property
    def current(self) -> Gallery | None:
        return self._current

    @property
    def version(self) -> str | None:
        gallery = self._current
        return None if gallery is None else gallery.version

    def swap(self, gallery: Gallery) -> None:
        """Serve `gallery` from now on (a gallery of other model files is refused)."""
        if gallery.model_id != self.model_id:
            raise IncompatibleGalleryError(
                f"gallery {gallery.version} was made with model {gallery.model_id!r}, this engine runs {self.model_id!r}"
            )
        previous = self._current
        self._current = gallery
        log.info(
            "gallery swapped to %s",
            gallery.version,
            extra={
                "version": gallery.version,
                "previous": None if previous is None else previous.version,
                "people": len(gallery.people),
            },
        )

    def refresh(self) -> Refresh:
        """Load the store's published version if it is new; keep the current one on any error."""
        if self.store is None:
            return Refresh(False, self.version)
        with self._lock:
            wanted = self.store.current_version()
            if wanted is None or wanted == self.version:
                return Refresh(False, self.version)
            if wanted in self._refused:
                return Refresh(False, self.version, self._refused[wanted])
            try:
                gallery = self.store.load(wanted, self.model_id)
            except GalleryError as error:
                self._refused[wanted] = str(error)
                log.error(
                    "gallery version %s refused, keeping %s: %s",
                    wanted,
                    self.version,
                    error,
                    extra={"refused": wanted, "version": self.version, "error": str(error)},
                )
                return Refresh(False, self.version, str(error))
            self.swap(gallery)
            return Refresh(True, gallery.version)

    def poll(self, stop: threading.Event, interval_s: float) -> None:
        """Refresh every `interval_s` until `stop` is set (a service runs this in a thread)."""
        while not stop.wait(interval_s):
            try:
                self.refresh()
            except OSError as error:  # the directory itself unreadable: try again next time
                log.warning("gallery directory unreadable", extra={"error": str(error)})
