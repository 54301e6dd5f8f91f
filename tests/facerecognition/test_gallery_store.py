"""Gallery versions in the model store: published and loaded whole, defects refused, the slot
keeps what works, concurrent changes never lost.

These tests need no dlib: a gallery is names, embeddings and metadata, so they use random
unit vectors and run in milliseconds (the real-photo tests cover what embeddings mean). The
store's own guarantees (atomic publish, checksums, channels) are tested in tests/modelstore.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from facerecognition.engine import gallery_slot
from facerecognition.gallery import CorruptGalleryError, Gallery, IncompatibleGalleryError, Source
from facerecognition.store import (
    EMBEDDINGS,
    ENGINE,
    ENTRIES,
    FORMAT,
    GalleryPlace,
    load_gallery,
)
from liquidedge.config import EnvDefaultsParser
from liquidedge.modelslot import ModelRefusedError
from modelstore import ConflictError, ModelStore, VerificationError, open_store
from modelstore.serving import add_serving_flags, slot_watcher

MODEL = "dlib-resnet-v1:test+sp5:test"


def make_gallery(
    people: dict[str, int], seed: int = 0, model_id: str = MODEL, parent: str | None = None
) -> Gallery:
    rng = np.random.default_rng(seed)
    names = [name for name, count in people.items() for _ in range(count)]
    vectors = rng.normal(size=(len(names), 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sources = [Source(f"{name}-{i}.jpg", f"{i:064x}", (0, 0, 100, 100)) for i, name in enumerate(names)]
    return Gallery.create(model_id=model_id, names=names, embeddings=vectors, sources=sources, parent=parent)


@pytest.fixture
def place(tmp_path: Path) -> GalleryPlace:
    return GalleryPlace(open_store(str(tmp_path / "store")), cache_dir=tmp_path / "cache")


def test_publish_load_round_trip(place: GalleryPlace) -> None:
    assert place.current_version() is None and place.load_current(MODEL) is None
    gallery = make_gallery({"alice": 2, "bob": 1})
    place.publish(gallery)
    stored = place.store.get(place.name, gallery.version)
    manifest = stored.manifest
    assert (manifest.engine, manifest.format, manifest.parent) == (ENGINE, FORMAT, None)
    assert {entry.path for entry in manifest.files} == {EMBEDDINGS, ENTRIES}
    assert manifest.meta["people"] == ["alice", "bob"] and manifest.meta["model_id"] == MODEL
    loaded = place.load_current(MODEL)
    assert loaded is not None
    assert (loaded.version, loaded.names, loaded.sources) == (gallery.version, gallery.names, gallery.sources)
    np.testing.assert_array_equal(loaded.embeddings, gallery.embeddings)
    # The same vector matches its person at distance 0; a far one matches nobody.
    assert loaded.match(gallery.embeddings[2], 0.55).name == "bob"
    assert loaded.match(-gallery.embeddings[2], 0.55).name == "unknown"


def publish_raw(
    store: ModelStore, folder: Path, version: str, embeddings: np.ndarray, meta: dict, fmt: str = FORMAT
) -> None:
    """A well-formed store version whose content is ours to spoil."""
    folder.mkdir(parents=True)
    np.save(folder / EMBEDDINGS, embeddings, allow_pickle=False)
    names = [{"name": "alice", "photo": "a.jpg", "sha256": "0" * 64, "box_xyxy": [0, 0, 9, 9]}] * len(
        embeddings
    )
    (folder / ENTRIES).write_text(json.dumps(names))
    store.publish(
        "face-gallery",
        {EMBEDDINGS: folder / EMBEDDINGS, ENTRIES: folder / ENTRIES},
        engine=ENGINE,
        format=fmt,
        version=version,
        meta=meta,
    )


GOOD_META = {"model_id": MODEL, "embedding_size": 128, "count": 3, "people": ["alice"], "created": "x"}
UNIT = np.eye(3, 128, dtype=np.float32)

DEFECTS = [
    # (case, embeddings, meta changes, format, expected error, words the message must contain)
    ("other model", UNIT, {"model_id": "dlib-resnet-v1:other"}, FORMAT, IncompatibleGalleryError, "re-enrol"),
    ("other format", UNIT, {}, "someone-else.v9", IncompatibleGalleryError, "format"),
    ("64-d embeddings", np.eye(3, 64, dtype=np.float32), {}, FORMAT, IncompatibleGalleryError, "64 values"),
    ("size field", UNIT, {"embedding_size": 512}, FORMAT, IncompatibleGalleryError, "embedding size 512"),
    ("NaN embeddings", np.full((3, 128), np.nan, np.float32), {}, FORMAT, CorruptGalleryError, "NaN"),
    ("count mismatch", UNIT, {"count": 7}, FORMAT, CorruptGalleryError, "manifest says 7"),
    ("float64", UNIT.astype(np.float64), {}, FORMAT, CorruptGalleryError, "float64"),
]


@pytest.mark.parametrize(
    ("case", "embeddings", "changes", "fmt", "error", "words"), DEFECTS, ids=[d[0] for d in DEFECTS]
)
def test_defective_version_refused_and_the_slot_keeps_its_version(
    case, embeddings, changes, fmt, error, words, place: GalleryPlace, tmp_path: Path
) -> None:
    old = make_gallery({"alice": 1}, seed=1)
    place.publish(old)
    slot = gallery_slot()
    watcher = slot_watcher(
        serving_args(tmp_path), slot, lambda local: load_gallery(local, MODEL), engine=ENGINE
    )
    watcher.poll_once()
    assert slot.version == old.version

    publish_raw(place.store, tmp_path / "bad", "bad-version", embeddings, {**GOOD_META, **changes}, fmt)
    with pytest.raises(error, match=words):
        place.load("bad-version", MODEL)
    place.store.promote(place.name, "bad-version", place.channel)
    assert watcher.poll_once() is None
    assert slot.version == old.version and any(words in why for why in watcher.refused.values())
    assert watcher.poll_once() is None  # refused once, not loaded again at every poll
    # A later good version is taken.
    good = make_gallery({"carol": 1}, seed=3)
    place.publish(good)
    watcher.poll_once()
    assert slot.version == good.version


def serving_args(tmp_path: Path, *extra: str):
    parser = EnvDefaultsParser(prog="test")
    add_serving_flags(parser, model_name="face-gallery")
    return parser.parse_args(
        ["--model-store", str(tmp_path / "store"), "--model-cache-dir", str(tmp_path / "cache"), *extra]
    )


def test_a_tampered_file_is_refused_by_the_store(place: GalleryPlace, tmp_path: Path) -> None:
    gallery = make_gallery({"alice": 1})
    place.publish(gallery)
    stored = (
        tmp_path / "store" / "models" / "face-gallery" / "versions" / gallery.version / "files" / EMBEDDINGS
    )
    stored.write_bytes(stored.read_bytes()[:-8])
    with pytest.raises(VerificationError, match="truncated"):
        place.load(gallery.version, MODEL)


def test_the_slot_refuses_a_gallery_that_fails_its_smoke_test() -> None:
    slot = gallery_slot(make_gallery({"alice": 1}))
    broken = make_gallery({"bob": 1}, seed=1)
    object.__setattr__(broken, "embeddings", np.zeros((1, 3), np.float32))  # cannot match 128-d vectors
    with pytest.raises(ModelRefusedError):
        slot.offer(broken.version, lambda: broken)
    with slot.lease() as lease:
        assert lease.model.people == ("alice",)


def test_changes_from_two_writers_are_never_lost(place: GalleryPlace) -> None:
    """Two replicas enrol at the same moment: each change is derived from the other's result."""
    place.publish(make_gallery({"alice": 1}))
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def add(name: str, seed: int) -> Callable[[Gallery | None], Gallery]:
        calls = []

        def make(parent: Gallery | None) -> Gallery:
            assert parent is not None
            calls.append(parent.version)
            if len(calls) == 1:
                barrier.wait(timeout=5)  # both writers derive from the same version first
            person = make_gallery({name: 1}, seed=seed)
            return parent.with_people({name: (person.embeddings, list(person.sources))})

        return make

    def writer(name: str, seed: int) -> None:
        try:
            place.change(add(name, seed), MODEL)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n, s)) for n, s in (("bob", 2), ("carol", 3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    current = place.load_current(MODEL)
    assert current is not None and current.people == ("alice", "bob", "carol")


def test_a_stale_promote_is_refused(place: GalleryPlace) -> None:
    first = make_gallery({"alice": 1})
    place.publish(first)
    second = make_gallery({"bob": 1}, seed=1, parent=first.version)
    place.publish(second)
    late = make_gallery({"carol": 1}, seed=2, parent=first.version)
    with pytest.raises(ConflictError, match="moved meanwhile"):
        place.publish(late, expect=first.version)
    assert place.current_version() == second.version
