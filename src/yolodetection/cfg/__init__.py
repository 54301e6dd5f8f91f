"""Darknet cfg files shipped with the package (the production YOLOv3 network)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def builtin_cfg(model: str) -> Path:
    """Path of a packaged `<model>.cfg`, e.g. builtin_cfg("yolov3"); raises if not shipped."""
    path = Path(str(resources.files(__name__).joinpath(f"{model}.cfg")))
    if not path.is_file():
        raise FileNotFoundError(f"no packaged cfg for model {model!r} (looked for {path})")
    return path
