"""Fetch and verify on both backends: a damaged version never reaches the cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from storekit import S3_CREDENTIALS, StoreUnderTest

from modelstore import NotFoundError, VerificationError, fetch_verified

WEIGHTS_KEY = "models/detector/versions/v1/files/net.weights"

# Publish from a child process that kills itself (SIGKILL: no cleanup, no finally) right after
# the first file is stored: the state a power cut or OOM kill leaves mid-publish.
_CRASHING_PUBLISH = """
import os, signal, sys
from pathlib import Path
from modelstore import open_store
store = open_store(sys.argv[1], s3_endpoint=sys.argv[2])
def crash(path):
    os.kill(os.getpid(), signal.SIGKILL)
store.publish_dir("detector", Path(sys.argv[3]), engine="yolo", format="darknet", version="v1", on_file=crash)
"""


def publish_v1(under_test: StoreUnderTest, model_src: Path) -> None:
    under_test.store.publish_dir("detector", model_src, engine="yolo", format="darknet", version="v1")


def cache_entries(cache: Path) -> list[str]:
    """Everything in the cache but empty folders: what a refused fetch must not leave behind."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


def test_a_good_version_is_fetched_byte_for_byte(
    under_test: StoreUnderTest, model_src: Path, tmp_path: Path
) -> None:
    publish_v1(under_test, model_src)
    local = fetch_verified(under_test.store, "detector", "v1", tmp_path / "cache", expect_engine="yolo")
    for name in ("net.cfg", "net.weights", "classes.names"):
        assert local.file(name).read_bytes() == (model_src / name).read_bytes()
    assert local.manifest_sha256 == under_test.store.get("detector", "v1").manifest_sha256


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        # same length, one byte flipped: only the hash can tell
        (
            lambda data: data[:100] + bytes([data[100] ^ 0xFF]) + data[101:],
            "has SHA-256 .* \\(corrupt or altered\\)",
        ),
        # half of the weights: an interrupted upload or a full disk
        (lambda data: data[: len(data) // 2], "is 8192 bytes but the manifest says 16384 \\(truncated\\)"),
        # extra bytes appended
        (
            lambda data: data + b"\x00",
            "is 16385 bytes but the manifest says 16384 \\(longer than published\\)",
        ),
    ],
)
def test_damaged_files_are_refused_and_leave_nothing(
    under_test: StoreUnderTest, model_src: Path, tmp_path: Path, damage, error: str
) -> None:
    publish_v1(under_test, model_src)
    under_test.overwrite(WEIGHTS_KEY, damage(under_test.read(WEIGHTS_KEY)))
    cache = tmp_path / "cache"
    with pytest.raises(VerificationError, match=f"detector v1: file net.weights {error}"):
        fetch_verified(under_test.store, "detector", "v1", cache)
    assert cache_entries(cache) == []


def test_a_version_without_manifest_cannot_be_fetched(
    under_test: StoreUnderTest, model_src: Path, tmp_path: Path
) -> None:
    publish_v1(under_test, model_src)
    under_test.delete("models/detector/versions/v1/manifest.json")
    with pytest.raises(NotFoundError, match="model detector has no published version v1"):
        fetch_verified(under_test.store, "detector", "v1", tmp_path / "cache")


def test_a_model_for_another_engine_is_refused(
    under_test: StoreUnderTest, model_src: Path, tmp_path: Path
) -> None:
    publish_v1(under_test, model_src)
    with pytest.raises(
        VerificationError, match="is a 'yolo' model \\(darknet\\), not for the 'classifier' engine"
    ):
        fetch_verified(under_test.store, "detector", "v1", tmp_path / "cache", expect_engine="classifier")
    assert cache_entries(tmp_path / "cache") == []


def test_a_manifest_swapped_after_promotion_is_refused(
    under_test: StoreUnderTest, model_src: Path, tmp_path: Path
) -> None:
    """Someone rewrites v1's manifest (and weights) in the bucket: the channel's hash catches it."""
    publish_v1(under_test, model_src)
    promoted = under_test.store.promote("detector", "v1")
    forged = under_test.read("models/detector/versions/v1/manifest.json").replace(b'"darknet"', b'"darknet2"')
    under_test.overwrite("models/detector/versions/v1/manifest.json", forged)
    with pytest.raises(VerificationError, match="not the one the channel was promoted with"):
        fetch_verified(
            under_test.store,
            "detector",
            "v1",
            tmp_path / "cache",
            expect_manifest_sha256=promoted.manifest_sha256,
        )


def test_a_damaged_cache_copy_is_fetched_again(
    under_test: StoreUnderTest, model_src: Path, tmp_path: Path
) -> None:
    publish_v1(under_test, model_src)
    cache = tmp_path / "cache"
    local = fetch_verified(under_test.store, "detector", "v1", cache)
    local.file("net.weights").write_bytes(b"bit rot")
    again = fetch_verified(under_test.store, "detector", "v1", cache)
    assert again.file("net.weights").read_bytes() == (model_src / "net.weights").read_bytes()


def test_a_publish_killed_midway_leaves_no_visible_version(
    under_test: StoreUnderTest, model_src: Path, tmp_path: Path
) -> None:
    endpoint = "" if isinstance(under_test.raw, Path) else under_test.store.backend.client.meta.endpoint_url
    env = {**os.environ, **S3_CREDENTIALS}
    child = subprocess.run(
        [sys.executable, "-c", _CRASHING_PUBLISH, under_test.url, endpoint, str(model_src)],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    # The first file did reach the storage ...
    if isinstance(under_test.raw, Path):
        assert list((under_test.raw / ".staging").rglob("classes.names"))
    else:
        assert under_test.read("models/detector/versions/v1/files/classes.names") == b"bottle\ncup\n"
    # ... but no reader sees a version, and the name can be published whole afterwards.
    assert under_test.store.versions("detector") == []
    with pytest.raises(NotFoundError):
        fetch_verified(under_test.store, "detector", "v1", tmp_path / "cache")
    publish_v1(under_test, model_src)
    local = fetch_verified(under_test.store, "detector", "v1", tmp_path / "cache")
    assert local.file("net.weights").read_bytes() == (model_src / "net.weights").read_bytes()
