"""Face recognition engine: a frame and its face boxes in, the same boxes with identities out.

Pure Python/numpy + dlib, no gRPC. Any face detector's boxes will do (the mesh's Haar engine
in production). Per box, `Detections.data` gets:

    identity         a person's name, or "unknown"
    distance         distance to the nearest enrolled embedding (absent when not embedded)
    gallery_version  the gallery version that produced the identity (absent without a gallery)
    unrecognised     why a face was not matched at all: too_small, over_limit, late or
                     no_gallery (absent when it was matched, whatever the answer)

An embedding costs ~85 ms of one CPU core, so the engine spends them carefully: only faces
at least `min_face` pixels on their shorter side (smaller ones give unreliable embeddings),
at most `max_faces` per frame (largest first), an identity reused along a face's track when
a tracker is passed in, and nothing started that would end past the frame's deadline. Every
face not recognised for one of these reasons is "unknown", and the report counts why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from facerecognition.embedder import Embedder, FaceAligner, LocalEmbedder, ProcessEmbedder
from facerecognition.gallery import UNKNOWN, Gallery
from facerecognition.model_files import EMBEDDING_SIZE, RecognitionModelFiles
from facerecognition.tracker import IdentityTracker, appearance
from liquidedge.detections import Detections
from liquidedge.metrics import ServiceMetrics
from liquidedge.modelslot import ModelSlot

# Measured on the fetched photos (docs/recognition.md): same person <= 0.47 down to 60 px
# faces at JPEG quality 50, different people >= 0.78, boxes that are not faces >= 0.68.
# dlib's usual 0.6 also separates them; 0.55 leans to the strict side of the 0.575 midpoint,
# since a wrong name is worse than "unknown" (which the next re-check can still fix).
DEFAULT_THRESHOLD = 0.55
DEFAULT_MIN_FACE = 60


@dataclass(frozen=True)
class RecognitionSettings:
    threshold: float = DEFAULT_THRESHOLD
    min_face: int = DEFAULT_MIN_FACE
    max_faces: int = 4
    # Embedding worker processes; 0 runs the network in the calling process (holds the GIL).
    workers: int = 1
    # Landmark predictors lent to concurrent frames.
    aligners: int = 2

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 2.0:
            raise ValueError(f"threshold must be in (0, 2), got {self.threshold}")
        if self.min_face < 1 or self.max_faces < 0 or self.workers < 0 or self.aligners < 1:
            raise ValueError("min_face >= 1, max_faces >= 0, workers >= 0 and aligners >= 1 are required")


@dataclass(frozen=True)
class RecognitionReport:
    """How one frame's faces were handled; every face is counted in exactly one outcome."""

    gallery_version: str | None
    faces: int = 0
    recognised: int = 0  # named (embedded now or reused from the track)
    strangers: int = 0  # embedded (or reused), no enrolled person close enough
    too_small: int = 0  # below min_face: not embedded
    over_limit: int = 0  # beyond max_faces: not embedded
    late: int = 0  # would have ended past the deadline: not embedded
    no_gallery: int = 0  # no gallery loaded: nothing to match against
    embedded: int = 0  # of recognised + strangers, how many were embedded this frame
    reused: int = 0  # ... and how many reused their track's identity
    seconds: float = 0.0

    def outcomes(self) -> dict[str, int]:
        """Counts by outcome, as metrics label them."""
        return {
            "recognised": self.recognised,
            "stranger": self.strangers,
            "too_small": self.too_small,
            "over_limit": self.over_limit,
            "late": self.late,
            "no_gallery": self.no_gallery,
        }


@dataclass(frozen=True)
class Recognition:
    detections: Detections
    report: RecognitionReport


def gallery_slot(gallery: Gallery | None = None, metrics: ServiceMetrics | None = None) -> ModelSlot[Gallery]:
    """The slot a recognition engine reads its gallery from (holding `gallery`, when given).

    A gallery is plain numpy, freed when the last frame using it ends; its smoke test matches
    one embedding against it, which catches a gallery that loaded but cannot be used.
    """
    slot: ModelSlot[Gallery] = ModelSlot("recognition", smoke=smoke_test, metrics=metrics)
    if gallery is not None:
        slot.offer(gallery.version, lambda: gallery)
    return slot


def smoke_test(gallery: Gallery) -> None:
    # What the engine will feed it: one embedding of the network's size.
    match = gallery.match(np.zeros(EMBEDDING_SIZE, np.float32), DEFAULT_THRESHOLD)
    if not (match.name == UNKNOWN or match.name in gallery.people):
        raise ValueError(f"gallery {gallery.version} matched a zero vector to {match.name!r}")


class RecognitionEngine:
    """Thread-safe: concurrent frames share the aligner pool and the embedder.

    The gallery comes from a `ModelSlot`: each frame leases the version it starts with and
    is matched wholly against it, while a new version can be swapped in for the next frames.
    """

    name = "recognition"

    def __init__(
        self,
        aligner: FaceAligner,
        embedder: Embedder,
        slot: ModelSlot[Gallery],
        settings: RecognitionSettings,
    ) -> None:
        self.aligner = aligner
        self.embedder = embedder
        self.slot = slot
        self.settings = settings

    @classmethod
    def build(
        cls, files: RecognitionModelFiles, slot: ModelSlot[Gallery], settings: RecognitionSettings
    ) -> RecognitionEngine:
        files.check()
        embedder: Embedder = (
            ProcessEmbedder(files.resnet, settings.workers)
            if settings.workers
            else LocalEmbedder(files.resnet)
        )
        return cls(FaceAligner(files.predictor, settings.aligners), embedder, slot, settings)

    def close(self) -> None:
        self.embedder.close()

    def _big_enough_largest_first(self, faces: Detections) -> np.ndarray:
        """Indices of the faces at least `min_face` on their shorter side, largest area first."""
        wh = faces.xyxy[:, 2:] - faces.xyxy[:, :2]
        big_enough = np.flatnonzero(wh.min(axis=1) >= self.settings.min_face)
        areas = wh[big_enough, 0] * wh[big_enough, 1]
        return big_enough[np.argsort(-areas, kind="stable")]

    def _embed(
        self, image_bgr: np.ndarray, boxes: np.ndarray, deadline: float | None
    ) -> list[np.ndarray | None]:
        """One embedding (or None: late) per box; alignment also stops at the deadline."""
        chips = []
        for box in boxes:
            if deadline is not None and time.monotonic() >= deadline:
                break
            chips.append(self.aligner.chip(image_bgr, box))
        vectors = self.embedder.embed(chips, deadline) if chips else []
        return vectors + [None] * (len(boxes) - len(vectors))

    def recognize(
        self,
        image_bgr: np.ndarray,
        faces: Detections,
        *,
        deadline: float | None = None,
        tracker: IdentityTracker | None = None,
    ) -> Recognition:
        """Identify `faces` in `image_bgr`. `deadline` is a time.monotonic() instant."""
        start = time.monotonic()
        if self.slot.version is None:
            n = len(faces)
            out = faces.with_data(
                identity=np.full(n, UNKNOWN, dtype=object),
                distance=np.full(n, np.nan),
                gallery_version=np.full(n, None, object),
                unrecognised=np.full(n, "no_gallery", dtype=object),
            )
            return Recognition(
                out, RecognitionReport(None, faces=n, no_gallery=n, seconds=time.monotonic() - start)
            )
        with self.slot.lease() as lease:  # one version for the whole frame, however long it takes
            return self._recognize(image_bgr, faces, lease.model, deadline, tracker, start)

    def _recognize(
        self,
        image_bgr: np.ndarray,
        faces: Detections,
        gallery: Gallery,
        deadline: float | None,
        tracker: IdentityTracker | None,
        start: float,
    ) -> Recognition:
        n = len(faces)
        identity = np.full(n, UNKNOWN, dtype=object)
        distance = np.full(n, np.nan)
        # Why a face was not matched at all (None for those that were): said on the box itself.
        unrecognised = np.full(n, "too_small", dtype=object)
        version = gallery.version
        ranked = self._big_enough_largest_first(faces)
        chosen = ranked[: self.settings.max_faces]
        unrecognised[ranked] = "over_limit"
        unrecognised[chosen] = "late"
        slots = None
        if tracker is not None:
            chosen_set = set(chosen.tolist())
            looks = [appearance(image_bgr, faces.xyxy[i]) if i in chosen_set else None for i in range(n)]
            slots = tracker.step(faces.xyxy, version, looks)

        reused = 0
        pending: list[int] = []
        for i in chosen:
            known = slots[i].reusable if slots is not None else None
            if known is None:
                pending.append(int(i))
                continue
            identity[i], distance[i], unrecognised[i] = known.name, known.distance, None
            reused += 1

        embedded = 0
        for i, vector in zip(pending, self._embed(image_bgr, faces.xyxy[pending], deadline), strict=True):
            if vector is None:
                continue
            match = gallery.match(vector, self.settings.threshold)
            identity[i] = match.name
            distance[i] = match.distance if np.isfinite(match.distance) else np.nan
            unrecognised[i] = None
            embedded += 1
            if slots is not None and tracker is not None:
                tracker.record(slots[i].track_id, match.name, float(distance[i]), version)

        handled = reused + embedded
        recognised = int(sum(identity[i] != UNKNOWN for i in chosen))
        report = RecognitionReport(
            version,
            faces=n,
            recognised=recognised,
            strangers=handled - recognised,
            too_small=n - len(ranked),
            over_limit=len(ranked) - len(chosen),
            late=len(pending) - embedded,
            embedded=embedded,
            reused=reused,
            seconds=time.monotonic() - start,
        )
        out = faces.with_data(
            identity=identity,
            distance=distance,
            gallery_version=np.full(n, version, object),
            unrecognised=unrecognised,
        )
        return Recognition(out, report)
