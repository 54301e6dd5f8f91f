"""Which ONNX (or OpenVINO IR) file a graph backend loads, and what is known about it.

Either the Darknet model converted by `yolodetection.onnx_export` (cached by content hash),
a model version directory with a manifest (a converted or quantised version), or any YOLO
ONNX file a user brings (`--onnx`), whose layout and input size come from the graph itself.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from liquidedge.package_files import sha256_of
from yolodetection.model_files import ModelFiles
from yolodetection.model_version import MANIFEST, ModelVersion, load_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GraphModel:
    """A network file. `layout` and `input_wh` are None when the graph must say them."""

    path: Path
    version: str
    precision: str = "fp32"
    layout: str | None = None
    input_wh: tuple[int, int] | None = None
    names: Path | None = None

    @classmethod
    def from_version(cls, version: ModelVersion) -> GraphModel:
        return cls(
            path=version.model,
            version=version.version,
            precision=version.precision,
            layout=version.layout,
            input_wh=version.input_wh,
            names=version.names,
        )


def user_model(path: str | os.PathLike[str]) -> GraphModel:
    """`--onnx`: a version directory (checked against its manifest) or a bare ONNX file."""
    given = Path(path)
    if given.is_dir():
        if not (given / MANIFEST).is_file():
            raise FileNotFoundError(f"{given} is a directory without {MANIFEST}")
        return GraphModel.from_version(load_version(given))
    if not given.is_file():
        raise FileNotFoundError(f"ONNX file missing: {given}")
    return GraphModel(path=given, version=f"{given.stem}-{sha256_of(given)[:12]}")


def converted_dir(model_dir: str | os.PathLike[str], override: str = "") -> Path:
    """Where converted and quantised versions live: `<model dir>/converted` unless overridden."""
    return Path(override) if override else Path(model_dir) / "converted"


def darknet_fp32(files: ModelFiles, cache_dir: Path) -> GraphModel:
    """The Darknet files as ONNX: from the cache, or converted now (needs torch)."""
    from yolodetection.onnx_export import ensure_onnx

    return GraphModel.from_version(ensure_onnx(files, cache_dir))


def darknet_int8(files: ModelFiles, cache_dir: Path) -> GraphModel | None:
    """The accepted INT8 version `make int8` wrote for these files, if there is one."""
    from yolodetection.onnx_export import find_converted

    found = find_converted(files, cache_dir, "int8")
    return None if found is None else GraphModel.from_version(found)
