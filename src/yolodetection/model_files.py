"""A Darknet model on disk: the cfg, weights and class-names triple the engine loads."""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "yolov3-tiny"


@dataclass(frozen=True)
class ModelFiles:
    cfg: Path
    weights: Path
    names: Path

    @classmethod
    def in_dir(cls, model_dir: str | os.PathLike[str], model: str = DEFAULT_MODEL) -> ModelFiles:
        """The conventional layout `make models` writes: <dir>/<model>.cfg, .weights, coco.names."""
        root = Path(model_dir)
        return cls(root / f"{model}.cfg", root / f"{model}.weights", root / "coco.names")

    def check(self) -> None:
        missing = [str(p) for p in (self.cfg, self.weights, self.names) if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"YOLO model files missing: {', '.join(missing)} (run `make models`)")

    def class_names(self) -> tuple[str, ...]:
        lines = self.names.read_text(encoding="utf-8").splitlines()
        return tuple(line.strip() for line in lines if line.strip())

    def input_size(self) -> tuple[int, int]:
        """Network input (width, height) from the cfg's [net] section."""
        return read_input_size(self.cfg)


def read_input_size(cfg_path: Path) -> tuple[int, int]:
    parser = configparser.ConfigParser(
        strict=False, comment_prefixes=("#", ";"), inline_comment_prefixes=("#",)
    )
    # Darknet repeats section names; only the first [net] section matters here.
    with open(cfg_path, encoding="utf-8") as handle:
        head = []
        for line in handle:
            if line.strip().startswith("[") and head and not line.strip().startswith("[net]"):
                break
            head.append(line)
    parser.read_string("".join(head))
    section = parser["net"] if parser.has_section("net") else parser["network"]
    return int(section.get("width", "416")), int(section.get("height", "416"))
