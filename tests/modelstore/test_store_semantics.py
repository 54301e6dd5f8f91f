"""Store semantics on both backends: publish, immutability, listing, channels."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from storekit import StoreUnderTest

from modelstore import ChannelError, ManifestError, ModelStore, NotFoundError, VersionExistsError
from modelstore.manifest import sha256_file


def publish(under_test: StoreUnderTest, model_src: Path, version: str, **options: object):
    return under_test.store.publish_dir(
        "detector", model_src, engine="yolo", format="darknet", version=version, **options
    )


def test_publish_records_every_file_and_lists_the_version(
    under_test: StoreUnderTest, model_src: Path
) -> None:
    stored = publish(under_test, model_src, "v1", metrics={"map50": 0.5})
    manifest = stored.manifest
    assert [e.path for e in manifest.files] == ["classes.names", "net.cfg", "net.weights"]
    for entry in manifest.files:
        assert (entry.sha256, entry.size) == sha256_file(model_src / entry.path)
    assert (manifest.engine, manifest.format, manifest.parent) == ("yolo", "darknet", None)
    assert manifest.metrics == {"map50": 0.5}
    assert [v.version for v in under_test.store.versions("detector")] == ["v1"]
    assert under_test.store.names() == ["detector"]
    weights = under_test.read("models/detector/versions/v1/files/net.weights")
    assert weights == (model_src / "net.weights").read_bytes()


def test_parent_defaults_to_the_latest_version(under_test: StoreUnderTest, model_src: Path) -> None:
    publish(under_test, model_src, "v1")
    (model_src / "classes.names").write_text("bottle\ncup\ncan\n")
    second = publish(under_test, model_src, "v2")
    assert second.manifest.parent == "v1"
    with pytest.raises(NotFoundError, match="no published version v9"):
        publish(under_test, model_src, "v3", parent="v9")


def test_versions_are_immutable(under_test: StoreUnderTest, model_src: Path) -> None:
    first = publish(under_test, model_src, "v1")
    (model_src / "net.weights").write_bytes(b"different weights")
    with pytest.raises(VersionExistsError, match="immutable"):
        publish(under_test, model_src, "v1")
    again = under_test.store.get("detector", "v1")
    assert again.manifest_bytes == first.manifest_bytes
    assert under_test.read("models/detector/versions/v1/files/net.weights") == bytes(range(256)) * 64


def test_generated_versions_are_distinct_and_sortable(under_test: StoreUnderTest, model_src: Path) -> None:
    first = under_test.store.publish_dir("detector", model_src, engine="yolo", format="darknet")
    (model_src / "classes.names").write_text("other\nclasses\n")
    second = under_test.store.publish_dir("detector", model_src, engine="yolo", format="darknet")
    assert first.version != second.version
    assert [v.version for v in under_test.store.versions("detector")] == [first.version, second.version]


def test_the_same_files_published_again_in_the_same_second_are_a_new_version(
    under_test: StoreUnderTest, model_src: Path
) -> None:
    """A deterministic retrain reproduces its parent's files byte for byte; within the second it
    must still publish (the trainer's equal-accuracy replace), as the child of the first."""
    store = under_test.store
    frozen = ModelStore(store.backend, clock=lambda: 1_796_000_000.25)
    first = frozen.publish_dir("detector", model_src, engine="yolo", format="darknet")
    second = frozen.publish_dir("detector", model_src, engine="yolo", format="darknet")
    assert first.version != second.version
    assert first.version[:16] == second.version[:16]  # the same second
    assert second.manifest.parent == first.version
    assert [e.sha256 for e in second.manifest.files] == [e.sha256 for e in first.manifest.files]


def test_a_version_without_a_valid_manifest_is_not_listed(
    under_test: StoreUnderTest, model_src: Path
) -> None:
    publish(under_test, model_src, "v1")
    publish(under_test, model_src, "v2")
    under_test.delete("models/detector/versions/v1/manifest.json")
    under_test.overwrite("models/detector/versions/v2/manifest.json", b'{"schema": 1, "name": "detector"')
    assert under_test.store.versions("detector") == []
    with pytest.raises(NotFoundError, match="no published version v1"):
        under_test.store.get("detector", "v1")
    with pytest.raises(ManifestError, match="not a valid manifest"):
        under_test.store.get("detector", "v2")


@pytest.mark.parametrize(
    ("name", "version", "error"),
    [
        ("../other", "v1", "model name '../other' is invalid"),  # path traversal in the name
        ("Detector", "v1", "model name 'Detector' is invalid"),  # names are lower-case
        ("detector", "v1/../../x", "version 'v1/../../x' is invalid"),  # traversal in the version
        ("detector", ".hidden", "version '.hidden' is invalid"),  # would hide from listings
    ],
)
def test_names_that_could_escape_are_refused(
    under_test: StoreUnderTest, model_src: Path, name: str, version: str, error: str
) -> None:
    with pytest.raises(ValueError, match=error.replace(".", r"\.").replace("(", r"\(")):
        under_test.store.publish_dir(name, model_src, engine="yolo", format="darknet", version=version)
    assert under_test.store.names() == []


def test_promote_and_rollback_walk_the_history(under_test: StoreUnderTest, model_src: Path) -> None:
    store = under_test.store
    for version in ("v1", "v2", "v3"):
        publish(under_test, model_src, version)
    assert store.channel("detector", "production") is None
    store.promote("detector", "v1")
    store.promote("detector", "v2")
    state = store.promote("detector", "v3", note="better mAP")
    assert (state.version, state.previous) == ("v3", ("v1", "v2"))
    assert state.manifest_sha256 == store.get("detector", "v3").manifest_sha256
    assert store.rollback("detector").version == "v2"
    assert store.rollback("detector").version == "v1"
    with pytest.raises(ChannelError, match="no earlier version"):
        store.rollback("detector")
    state = store.channel("detector", "production")
    assert [(e.action, e.version) for e in state.log] == [
        ("promote", "v1"),
        ("promote", "v2"),
        ("promote", "v3"),
        ("rollback", "v2"),
        ("rollback", "v1"),
    ]
    assert state.log[2].note == "better mAP"


def test_channels_are_independent_and_only_name_published_versions(
    under_test: StoreUnderTest, model_src: Path
) -> None:
    store = under_test.store
    publish(under_test, model_src, "v1")
    publish(under_test, model_src, "v2")
    store.promote("detector", "v1", "production")
    store.promote("detector", "v2", "canary")
    assert {c.channel: c.version for c in store.channels("detector")} == {"production": "v1", "canary": "v2"}
    with pytest.raises(NotFoundError):
        store.promote("detector", "v7", "production")
    with pytest.raises(ChannelError, match="already points at v1"):
        store.promote("detector", "v1", "production")
    assert store.channel("detector", "production").version == "v1"


def test_a_pinned_channel_refuses_moves_until_unpinned(under_test: StoreUnderTest, model_src: Path) -> None:
    store = under_test.store
    for version in ("v1", "v2", "v3"):
        publish(under_test, model_src, version)
    store.promote("detector", "v1")
    state = store.pin("detector", reason="incident 42: v2 mislabels bottles", version="v2")
    assert (state.version, state.pinned.reason) == ("v2", "incident 42: v2 mislabels bottles")
    with pytest.raises(ChannelError, match="pinned to v2 \\(incident 42"):
        store.promote("detector", "v3")
    with pytest.raises(ChannelError, match="pinned"):
        store.rollback("detector")
    assert store.promote("detector", "v3", force=True).version == "v3"
    store.unpin("detector")
    assert store.rollback("detector").version == "v2"


def test_concurrent_promotes_lose_no_move(under_test: StoreUnderTest, model_src: Path) -> None:
    """Read-modify-write with compare-and-swap: every promote lands in the log exactly once."""
    store = under_test.store
    versions = [f"v{i}" for i in range(6)]
    for version in versions:
        publish(under_test, model_src, version)
    barrier = threading.Barrier(len(versions))
    errors: list[Exception] = []

    def promote(version: str) -> None:
        barrier.wait()
        try:
            store.promote("detector", version, "canary")
        except Exception as error:  # collected: a lost race would surface here or in the log
            errors.append(error)

    threads = [threading.Thread(target=promote, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    state = store.channel("detector", "canary")
    assert sorted(e.version for e in state.log) == versions
    assert sorted((*state.previous, state.version)) == versions
