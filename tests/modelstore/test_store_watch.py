"""The channel watcher: new versions delivered once, bad ones refused while the old one stays."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from storekit import StoreUnderTest

from modelstore import ChannelUpdate, ChannelWatcher, VerificationError


def publish(under_test: StoreUnderTest, model_src: Path, version: str) -> None:
    (model_src / "classes.names").write_text(f"bottle\ncup\n# {version}\n")
    under_test.store.publish_dir("detector", model_src, engine="yolo", format="darknet", version=version)


class Recorder:
    """Collects what the watcher reports; `reject` makes the consumer refuse a version."""

    def __init__(self, reject: frozenset[str] = frozenset()) -> None:
        self.updates: list[ChannelUpdate] = []
        self.refused: list[tuple[str, Exception]] = []
        self.reject = reject
        self.delivered = threading.Event()

    def on_update(self, update: ChannelUpdate) -> None:
        if update.version in self.reject:
            raise RuntimeError(f"smoke inference failed on {update.version}")
        self.updates.append(update)
        self.delivered.set()

    def on_refused(self, version: str, error: Exception) -> None:
        self.refused.append((version, error))


def watcher_for(
    under_test: StoreUnderTest, tmp_path: Path, recorder: Recorder, **options: object
) -> ChannelWatcher:
    return ChannelWatcher(
        under_test.store,
        "detector",
        "production",
        tmp_path / "cache",
        expect_engine="yolo",
        on_update=recorder.on_update,
        on_refused=recorder.on_refused,
        **options,
    )


def test_each_new_version_is_delivered_once_with_verified_files(
    under_test: StoreUnderTest, model_src: Path, tmp_path: Path
) -> None:
    recorder = Recorder()
    watcher = watcher_for(under_test, tmp_path, recorder)
    assert watcher.poll_once() is None  # no channel yet
    publish(under_test, model_src, "v1")
    under_test.store.promote("detector", "v1")
    first = watcher.poll_once()
    assert (first.channel, first.version) == ("production", "v1")
    assert (first.path / "classes.names").read_text().endswith("# v1\n")
    assert watcher.poll_once() is None
    publish(under_test, model_src, "v2")
    under_test.store.promote("detector", "v2")
    assert watcher.poll_once().version == "v2"
    assert [u.version for u in recorder.updates] == ["v1", "v2"]
    under_test.store.rollback("detector")
    assert watcher.poll_once().version == "v1"


def test_a_corrupt_version_is_refused_once_and_the_old_one_stays(
    under_test: StoreUnderTest, model_src: Path, tmp_path: Path
) -> None:
    recorder = Recorder()
    watcher = watcher_for(under_test, tmp_path, recorder)
    publish(under_test, model_src, "v1")
    under_test.store.promote("detector", "v1")
    watcher.poll_once()
    publish(under_test, model_src, "v2")
    key = "models/detector/versions/v2/files/net.weights"
    under_test.overwrite(key, under_test.read(key)[:1000])
    under_test.store.promote("detector", "v2")
    assert watcher.poll_once() is None
    assert watcher.poll_once() is None
    assert [(v, type(e)) for v, e in recorder.refused] == [("v2", VerificationError)]
    assert "truncated" in watcher.refused[("v2", under_test.store.get("detector", "v2").manifest_sha256)]
    assert watcher.current.version == "v1"
    publish(under_test, model_src, "v3")
    under_test.store.promote("detector", "v3")
    assert watcher.poll_once().version == "v3"


def test_a_version_the_consumer_cannot_load_is_refused(
    under_test: StoreUnderTest, model_src: Path, tmp_path: Path
) -> None:
    recorder = Recorder(reject=frozenset({"v2"}))
    watcher = watcher_for(under_test, tmp_path, recorder)
    publish(under_test, model_src, "v1")
    under_test.store.promote("detector", "v1")
    watcher.poll_once()
    publish(under_test, model_src, "v2")
    under_test.store.promote("detector", "v2")
    assert watcher.poll_once() is None
    assert str(recorder.refused[0][1]) == "smoke inference failed on v2"
    assert watcher.current.version == "v1"


def test_an_operator_pin_overrides_the_channel(
    under_test: StoreUnderTest, model_src: Path, tmp_path: Path
) -> None:
    recorder = Recorder()
    publish(under_test, model_src, "v1")
    publish(under_test, model_src, "v2")
    under_test.store.promote("detector", "v2")
    watcher = watcher_for(under_test, tmp_path, recorder, pinned_version="v1")
    assert watcher.poll_once().version == "v1"
    assert watcher.poll_once() is None


def test_the_polling_thread_delivers_a_promotion(
    under_test: StoreUnderTest, model_src: Path, tmp_path: Path
) -> None:
    recorder = Recorder()
    publish(under_test, model_src, "v1")
    with watcher_for(under_test, tmp_path, recorder, interval_s=0.05):
        under_test.store.promote("detector", "v1")
        assert recorder.delivered.wait(30), "the watcher thread never delivered v1"
    assert [u.version for u in recorder.updates] == ["v1"]


def test_interval_must_be_positive(under_test: StoreUnderTest, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="interval_s must be positive"):
        ChannelWatcher(under_test.store, "detector", "production", tmp_path, interval_s=0)
