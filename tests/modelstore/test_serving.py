"""A serving service's side of the store: a channel's versions reach its ModelSlot, bad ones never do."""

from __future__ import annotations

from pathlib import Path

import pytest

from liquidedge.config import EnvDefaultsParser
from liquidedge.modelslot import ModelSlot
from modelstore.backends.local import LocalBackend
from modelstore.fetch import LocalVersion
from modelstore.serving import add_serving_flags, first_version, serve_from_store, slot_watcher
from modelstore.store import ModelStore


def args_for(store_root: Path, cache: Path, *extra: str):
    parser = EnvDefaultsParser(prog="toy")
    add_serving_flags(parser, model_name="toy")
    return parser.parse_args(["--model-store", str(store_root), "--model-cache-dir", str(cache), *extra])


def publish(store: ModelStore, folder: Path, text: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.txt").write_text(text)
    return store.publish_dir("toy", folder, engine="toy", format="text").version


def load(local: LocalVersion) -> str:
    """The toy model is its file's text; an empty file does not load."""
    text = (local.path / "model.txt").read_text()
    if not text:
        raise ValueError("empty model file")
    return text


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(LocalBackend(tmp_path / "store"))


def test_the_channel_version_is_served_then_a_promoted_one_replaces_it(
    store: ModelStore, tmp_path: Path
) -> None:
    v1 = publish(store, tmp_path / "a", "first model")
    store.promote("toy", v1)
    slot: ModelSlot[str] = ModelSlot("toy")
    watcher = slot_watcher(args_for(tmp_path / "store", tmp_path / "cache"), slot, load, engine="toy")
    assert first_version(watcher, slot) == v1
    with slot.lease() as lease:
        assert lease.model == "first model"
    v2 = publish(store, tmp_path / "b", "second model")
    store.promote("toy", v2)
    watcher.poll_once()
    with slot.lease() as lease:
        assert (lease.version, lease.model) == (v2, "second model")


def test_a_version_that_does_not_load_is_refused_once_and_the_old_one_serves(
    store: ModelStore, tmp_path: Path
) -> None:
    good = publish(store, tmp_path / "a", "good model")
    store.promote("toy", good)
    slot: ModelSlot[str] = ModelSlot("toy")
    watcher = slot_watcher(args_for(tmp_path / "store", tmp_path / "cache"), slot, load, engine="toy")
    first_version(watcher, slot)
    bad = publish(store, tmp_path / "b", "")
    store.promote("toy", bad)
    assert watcher.poll_once() is None
    assert slot.version == good and bad in slot.refused
    assert [version for version, _sha in watcher.refused] == [bad]
    watcher.poll_once()  # not offered again until the channel moves
    assert list(slot.refused) == [bad]


def test_an_operator_pin_serves_that_version_whatever_the_channel_says(
    store: ModelStore, tmp_path: Path
) -> None:
    old = publish(store, tmp_path / "a", "old model")
    new = publish(store, tmp_path / "b", "new model")
    store.promote("toy", new)
    slot: ModelSlot[str] = ModelSlot("toy")
    args = args_for(tmp_path / "store", tmp_path / "cache", "--model-version", old)
    assert first_version(slot_watcher(args, slot, load, engine="toy"), slot) == old


def test_start_up_with_nothing_to_serve_says_where_it_looked(store: ModelStore, tmp_path: Path) -> None:
    slot: ModelSlot[str] = ModelSlot("toy")
    watcher = slot_watcher(args_for(tmp_path / "store", tmp_path / "cache"), slot, load, engine="toy")
    with pytest.raises(RuntimeError, match=r"no servable toy model in channel production of .*store"):
        first_version(watcher, slot)


def test_served_from_the_store_the_cache_keeps_no_version_it_served_before(
    store: ModelStore, tmp_path: Path
) -> None:
    """A service swapping versions for weeks must not fill its cache volume; what another process
    sharing the cache fetched (and may be loading) stays."""
    first = publish(store, tmp_path / "a", "first model")
    store.promote("toy", first)
    others = tmp_path / "cache" / "models" / "toy" / "fetched-by-another-process"
    others.mkdir(parents=True)
    slot: ModelSlot[str] = ModelSlot("toy")
    served = serve_from_store(args_for(tmp_path / "store", tmp_path / "cache"), slot, load, engine="toy")
    try:
        for text in ("second model", "third model"):
            store.promote("toy", publish(store, tmp_path / text.split()[0], text))
            served.watcher.poll_once()
        kept = sorted(p.name for p in others.parent.iterdir())
        assert kept == sorted([others.name, slot.version]) and slot.version != first
    finally:
        served.close()
