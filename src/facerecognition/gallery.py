"""The gallery of known people: one immutable version of names and embeddings.

A version never changes once made; enrolling or forgetting someone makes a new version whose
`parent` is the one it came from. That is what lets a service swap versions atomically
(readers keep the version they started a frame with) and a store keep every version.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from facerecognition.model_files import EMBEDDING_SIZE
from liquidedge.messages import UNKNOWN_IDENTITY

UNKNOWN = UNKNOWN_IDENTITY
# Names come from file and folder names and travel in answers and logs: keep them plain.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


class GalleryError(Exception):
    """A gallery version that cannot be used; the caller keeps the one it has."""


class CorruptGalleryError(GalleryError):
    """Unreadable, truncated, tampered with, or internally inconsistent."""


class IncompatibleGalleryError(GalleryError):
    """Well-formed, but made for another format or other model files."""


class InvalidNameError(ValueError):
    """A person's name that is empty, reserved or has characters we do not carry."""


def check_name(name: str) -> str:
    if not _NAME.match(name) or name.lower() == UNKNOWN:
        raise InvalidNameError(
            f"invalid person name {name!r}: 1-64 letters, digits, space, '.', '_' or '-', "
            f"starting with a letter or digit, and not {UNKNOWN!r}"
        )
    return name


@dataclass(frozen=True)
class Source:
    """Where one embedding came from: the photo's file name and SHA-256, the face box in it."""

    photo: str
    sha256: str
    box_xyxy: tuple[int, int, int, int]


# One person's embeddings (K, 128) and the photo each came from.
PersonFaces = tuple[np.ndarray, Sequence[Source]]


def _flatten(people: Mapping[str, PersonFaces]) -> tuple[list[str], np.ndarray, list[Source]]:
    names: list[str] = []
    vectors = [np.zeros((0, EMBEDDING_SIZE), np.float32)]
    sources: list[Source] = []
    for name, (embeddings, photos) in people.items():
        rows = np.asarray(embeddings, np.float32).reshape(-1, EMBEDDING_SIZE)
        if not len(rows) or len(rows) != len(photos):
            raise ValueError(
                f"{name!r}: {len(rows)} embeddings for {len(photos)} photos (need one each, at least one)"
            )
        names += [name] * len(rows)
        vectors.append(rows)
        sources += list(photos)
    return names, np.concatenate(vectors), sources


@dataclass(frozen=True)
class Match:
    name: str  # a person, or UNKNOWN
    distance: float  # Euclidean distance to the nearest enrolled embedding (inf if none)


@dataclass(frozen=True, eq=False)
class Gallery:
    """Names and embeddings of one version; row i of `embeddings` belongs to `names[i]`."""

    version: str
    created: str
    model_id: str
    names: tuple[str, ...]
    embeddings: np.ndarray
    sources: tuple[Source, ...]
    parent: str | None = None
    _people: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        embeddings = np.array(self.embeddings, dtype=np.float32).reshape(-1, EMBEDDING_SIZE)
        embeddings.setflags(write=False)
        object.__setattr__(self, "embeddings", embeddings)
        if not (len(self.names) == len(embeddings) == len(self.sources)):
            raise CorruptGalleryError(
                f"gallery {self.version}: {len(self.names)} names, {len(embeddings)} embeddings, "
                f"{len(self.sources)} sources (must be equal)"
            )
        if not np.isfinite(embeddings).all():
            raise CorruptGalleryError(f"gallery {self.version}: embeddings hold NaN or infinity")
        object.__setattr__(self, "_people", tuple(sorted(set(self.names))))

    @classmethod
    def create(
        cls,
        *,
        model_id: str,
        names: Sequence[str],
        embeddings: np.ndarray,
        sources: Sequence[Source],
        parent: str | None = None,
        now: datetime | None = None,
    ) -> Gallery:
        """A new version. Its id sorts by creation time and ends in a digest of its content."""
        for name in set(names):
            check_name(name)
        created_at = (now or datetime.now(UTC)).astimezone(UTC)
        created = created_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
        vectors = np.asarray(embeddings, dtype=np.float32).reshape(-1, EMBEDDING_SIZE)
        digest = hashlib.sha256()
        for part in (model_id, parent or "", created, "\0".join(names), "\0".join(s.sha256 for s in sources)):
            digest.update(part.encode() + b"\x1f")
        digest.update(vectors.tobytes())
        version = f"{created_at:%Y%m%dT%H%M%S%fZ}-{digest.hexdigest()[:12]}"
        return cls(
            version=version,
            created=created,
            model_id=model_id,
            names=tuple(names),
            embeddings=vectors,
            sources=tuple(sources),
            parent=parent,
        )

    @property
    def people(self) -> tuple[str, ...]:
        return self._people

    def __len__(self) -> int:
        return len(self.names)

    def match(self, embedding: np.ndarray, threshold: float) -> Match:
        """The nearest enrolled embedding's person if within `threshold`, else UNKNOWN."""
        if not len(self.names):
            return Match(UNKNOWN, float("inf"))
        distances = np.linalg.norm(self.embeddings - np.asarray(embedding, np.float32), axis=1)
        best = int(np.argmin(distances))
        distance = float(distances[best])
        return Match(self.names[best] if distance <= threshold else UNKNOWN, distance)

    def faces_of(self, name: str) -> PersonFaces:
        """`name`'s embeddings (K, 128) and their sources; K is 0 for someone not enrolled."""
        rows = [i for i, n in enumerate(self.names) if n == name]
        return self.embeddings[rows], [self.sources[i] for i in rows]

    def without(self, name: str, *, now: datetime | None = None) -> Gallery:
        """A new version with every embedding of `name` removed (KeyError if not enrolled)."""
        if name not in self._people:
            raise KeyError(f"{name!r} is not enrolled in gallery {self.version}")
        keep = [i for i, n in enumerate(self.names) if n != name]
        return self._derived(keep, [], np.zeros((0, EMBEDDING_SIZE), np.float32), [], now)

    @classmethod
    def from_people(
        cls, model_id: str, people: Mapping[str, PersonFaces], *, now: datetime | None = None
    ) -> Gallery:
        """A first version (no parent) holding just these people."""
        names, vectors, sources = _flatten(people)
        return cls.create(model_id=model_id, names=names, embeddings=vectors, sources=sources, now=now)

    def with_people(self, people: Mapping[str, PersonFaces], *, now: datetime | None = None) -> Gallery:
        """One new version where each named person has exactly these embeddings (added or replaced)."""
        keep = [i for i, n in enumerate(self.names) if n not in people]
        names, vectors, sources = _flatten(people)
        return self._derived(keep, names, vectors, sources, now)

    def _derived(
        self,
        keep: list[int],
        names: list[str],
        vectors: np.ndarray,
        sources: Sequence[Source],
        now: datetime | None,
    ) -> Gallery:
        return Gallery.create(
            model_id=self.model_id,
            names=[self.names[i] for i in keep] + names,
            embeddings=np.concatenate([self.embeddings[keep], vectors]),
            sources=[self.sources[i] for i in keep] + list(sources),
            parent=self.version,
            now=now,
        )
