"""Gallery versions on disk: atomic saves, validated loads, and a holder that keeps what works.

These tests need no dlib: a gallery is names, embeddings and metadata, so they use random
unit vectors and run in milliseconds (the real-photo tests cover what embeddings mean).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest

from facerecognition.gallery import (
    CorruptGalleryError,
    Gallery,
    IncompatibleGalleryError,
    Source,
)
from facerecognition.holder import GalleryHolder
from facerecognition.store import EMBEDDINGS, ENTRIES, MANIFEST, GalleryStore
from support.waiting import wait_for

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


def test_save_publish_load_round_trip(tmp_path: Path) -> None:
    store = GalleryStore(tmp_path)
    assert store.current_version() is None and store.load_current(MODEL) is None
    gallery = make_gallery({"alice": 2, "bob": 1})
    path = store.save_and_publish(gallery)
    assert sorted(p.name for p in path.iterdir()) == [EMBEDDINGS, ENTRIES, MANIFEST]
    manifest = json.loads((path / MANIFEST).read_text())
    # What a versioned model store needs of any artefact, and what is ours.
    assert {k: manifest[k] for k in ("name", "version", "engine", "format", "parent")} == {
        "name": "face-gallery",
        "version": gallery.version,
        "engine": "facerecognition",
        "format": "liquidedge.face-gallery.v1",
        "parent": None,
    }
    assert manifest["created"] == gallery.created and manifest["people"] == ["alice", "bob"]
    assert set(manifest["files"]) == {EMBEDDINGS, ENTRIES}
    loaded = store.load_current(MODEL)
    assert loaded is not None
    assert (loaded.version, loaded.names, loaded.sources) == (gallery.version, gallery.names, gallery.sources)
    np.testing.assert_array_equal(loaded.embeddings, gallery.embeddings)
    # The same vector matches its person at distance 0; a far one matches nobody.
    assert loaded.match(gallery.embeddings[2], 0.55).name == "bob"
    assert loaded.match(-gallery.embeddings[2], 0.55).name == "unknown"


def corrupt_manifest(path: Path) -> None:
    (path / MANIFEST).write_text("{ not json")


def truncate_embeddings(path: Path) -> None:
    data = (path / EMBEDDINGS).read_bytes()
    (path / EMBEDDINGS).write_bytes(data[: len(data) // 2])


def delete_entries(path: Path) -> None:
    (path / ENTRIES).unlink()


def rewrite(path: Path, embeddings: np.ndarray | None = None, **manifest_changes: object) -> None:
    """Change the content and re-sign it consistently (a well-formed but different gallery)."""
    manifest = json.loads((path / MANIFEST).read_text())
    if embeddings is not None:
        np.save(path / EMBEDDINGS, embeddings, allow_pickle=False)
        data = (path / EMBEDDINGS).read_bytes()
        manifest["files"][EMBEDDINGS] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    manifest.update(manifest_changes)
    (path / MANIFEST).write_text(json.dumps(manifest))


DEFECTS = [
    # (case, damage, expected error, words the message must contain)
    ("garbage manifest", corrupt_manifest, CorruptGalleryError, "unreadable manifest.json"),
    ("truncated embeddings", truncate_embeddings, CorruptGalleryError, "SHA-256"),
    ("missing entries", delete_entries, CorruptGalleryError, "entries.json is missing"),
    (
        "other model",
        lambda p: rewrite(p, model_id="dlib-resnet-v1:other+sp5:other"),
        IncompatibleGalleryError,
        "re-enrol",
    ),
    ("other format", lambda p: rewrite(p, format="someone-else.v9"), IncompatibleGalleryError, "format"),
    (
        "64-d embeddings",
        lambda p: rewrite(p, embeddings=np.zeros((3, 64), np.float32)),
        IncompatibleGalleryError,
        "64 values, expected 128",
    ),
    ("size field", lambda p: rewrite(p, embedding_size=512), IncompatibleGalleryError, "embedding size 512"),
    (
        "NaN embeddings",
        lambda p: rewrite(p, embeddings=np.full((3, 128), np.nan, np.float32)),
        CorruptGalleryError,
        "NaN",
    ),
    ("count mismatch", lambda p: rewrite(p, count=7), CorruptGalleryError, "manifest says 7"),
]


@pytest.mark.parametrize(("case", "damage", "error", "words"), DEFECTS, ids=[d[0] for d in DEFECTS])
def test_defective_version_refused_and_old_one_kept(case, damage, error, words, tmp_path: Path) -> None:
    store = GalleryStore(tmp_path)
    old = make_gallery({"alice": 1}, seed=1)
    store.save_and_publish(old)
    holder = GalleryHolder(MODEL, store)
    assert holder.refresh().changed and holder.version == old.version

    new = make_gallery({"alice": 1, "bob": 2}, seed=2, parent=old.version)
    damage(store.save(new))
    with pytest.raises(error, match=words):
        store.load(new.version, MODEL)
    store.publish(new.version)
    outcome = holder.refresh()
    assert not outcome.changed and outcome.error is not None and words in outcome.error
    assert holder.current is not None and holder.current.version == old.version
    # Refused once, not re-read on every poll; a later good version is taken.
    assert holder.refresh().error == outcome.error
    good = make_gallery({"carol": 1}, seed=3)
    store.save_and_publish(good)
    assert holder.refresh().changed and holder.version == good.version


def test_holder_refuses_a_gallery_of_other_models() -> None:
    holder = GalleryHolder(MODEL, gallery=make_gallery({"alice": 1}))
    with pytest.raises(IncompatibleGalleryError, match="other"):
        holder.swap(make_gallery({"bob": 1}, model_id="other"))
    assert holder.current is not None and holder.current.people == ("alice",)


def test_swap_frees_the_old_version() -> None:
    old = make_gallery({"alice": 1})
    gone = weakref.ref(old)
    holder = GalleryHolder(MODEL, gallery=old)
    del old
    holder.swap(make_gallery({"bob": 1}, seed=1))
    gc.collect()
    assert gone() is None, "the holder kept a reference to the version it swapped out"


def test_failed_save_leaves_previous_version_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = GalleryStore(tmp_path)
    old = make_gallery({"alice": 1})
    store.save_and_publish(old)
    real_rename = os.rename

    def failing_rename(src: object, dst: object) -> None:
        raise OSError("disk full (injected)")

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="injected"):
        store.save_and_publish(make_gallery({"bob": 1}, seed=5))
    monkeypatch.setattr(os, "rename", real_rename)
    assert store.versions() == [old.version] and store.current_version() == old.version
    assert not [p for p in store.versions_dir.iterdir() if p.name != old.version]  # nothing half-written left


CRASHING_SAVE = """
import os, sys, time
from pathlib import Path
sys.path[:0] = sys.argv[3:]  # this folder, and tests/ for the shared helpers it imports
from test_gallery_store import make_gallery
from facerecognition.store import GalleryStore
real_fsync, calls = os.fsync, []
def slow_fsync(fd):
    real_fsync(fd)
    calls.append(fd)
    if len(calls) == 2:  # embeddings written, manifest not yet: announce, then hang
        Path(sys.argv[2]).write_text("mid-save")
        time.sleep(60)
os.fsync = slow_fsync
GalleryStore(sys.argv[1]).save_and_publish(make_gallery({"bob": 3}, seed=9))
"""


def test_crash_mid_save_leaves_previous_version_intact(tmp_path: Path) -> None:
    """A real crash: the saving process is SIGKILLed between two files of the new version."""
    root = tmp_path / "gallery"
    store = GalleryStore(root)
    old = make_gallery({"alice": 1})
    store.save_and_publish(old)
    marker = tmp_path / "marker"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CRASHING_SAVE,
            str(root),
            str(marker),
            *(str(p) for p in Path(__file__).parents[:2]),
        ],
    )
    try:
        wait_for(
            lambda: marker.exists() or child.poll() is not None, 30, "the saving process to reach mid-save"
        )
        assert marker.exists(), f"the saving process exited ({child.poll()}) before mid-save"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    # The crashed save left a hidden partial directory, which is not a version.
    assert any(p.name.startswith(".partial-") for p in store.versions_dir.iterdir())
    assert store.versions() == [old.version] and store.current_version() == old.version
    holder = GalleryHolder(MODEL, store)
    assert holder.refresh().changed and holder.current is not None and holder.current.people == ("alice",)
    # And the next save still works.
    store.save_and_publish(make_gallery({"carol": 1}, seed=4))
    assert holder.refresh().changed and holder.current.people == ("carol",)


def test_readers_never_see_a_half_swapped_gallery(tmp_path: Path) -> None:
    """Readers take `current` once and find it whole while versions are published and polled in."""
    store = GalleryStore(tmp_path)
    galleries = [make_gallery({f"p{i}": i + 1}, seed=i) for i in range(6)]
    expected = {g.version: (g.names, g.embeddings.tobytes()) for g in galleries}
    holder = GalleryHolder(MODEL, store, gallery=galleries[0])
    stop = threading.Event()
    seen: set[str] = set()
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            gallery = holder.current
            assert gallery is not None
            if (gallery.names, gallery.embeddings.tobytes()) != expected[gallery.version]:
                bad.append(gallery.version)
            seen.add(gallery.version)

    poller = threading.Thread(target=holder.poll, args=(stop, 0.01))
    readers = [threading.Thread(target=reader) for _ in range(3)]
    for thread in [poller, *readers]:
        thread.start()
    try:
        for gallery in galleries[1:]:
            store.save_and_publish(gallery)
            wait_for(
                lambda version=gallery.version: version in seen,
                5,
                f"a reader to see {gallery.version} (the poller swaps in what is published)",
            )
    finally:
        stop.set()
        for thread in [poller, *readers]:
            thread.join()
    assert not bad
