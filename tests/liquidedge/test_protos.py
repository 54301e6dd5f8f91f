"""The committed stubs must be what `make protos` generates from the committed .proto files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROTOS = ["liquidedge/v1/detection.proto", "liquidedge/v1/gallery.proto", "liquidedge/legacy/robot.proto"]


def test_generated_stubs_are_current(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{REPO / 'protos'}",
            f"--python_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            *PROTOS,
        ],
        check=True,
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.py*"))
    assert generated, "protoc generated nothing"
    stale = [str(p) for p in generated if (tmp_path / p).read_bytes() != (REPO / "src" / p).read_bytes()]
    assert not stale, f"stale generated stubs (run `make protos`): {stale}"
