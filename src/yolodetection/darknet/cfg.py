"""Darknet `.cfg` files as plain data: an ordered list of typed sections.

Darknet repeats section names ([convolutional] many times), which `configparser` cannot
hold, so this is a small line parser. It knows nothing about torch; `darknet.model` turns
the sections into layers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_LAYERS = frozenset({"convolutional", "maxpool", "upsample", "route", "shortcut", "yolo"})


class CfgError(ValueError):
    """The cfg cannot be turned into a network; the message names the section and option."""


@dataclass(frozen=True)
class Section:
    """One `[kind]` block. `index` counts layers from 0 (the [net] section is not a layer)."""

    kind: str
    options: dict[str, str] = field(default_factory=dict)
    index: int = -1
    line: int = 0

    def _raw(self, key: str) -> str | None:
        return self.options.get(key)

    def where(self) -> str:
        return f"[{self.kind}] at line {self.line} (layer {self.index})"

    def get_int(self, key: str, default: int | None = None) -> int:
        raw = self._raw(key)
        if raw is None:
            if default is None:
                raise CfgError(f"{self.where()}: missing required option {key!r}")
            return default
        try:
            return int(raw)
        except ValueError as error:
            raise CfgError(f"{self.where()}: {key}={raw!r} is not an integer") from error

    def get_float(self, key: str, default: float) -> float:
        raw = self._raw(key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError as error:
            raise CfgError(f"{self.where()}: {key}={raw!r} is not a number") from error

    def get_str(self, key: str, default: str) -> str:
        return self.options.get(key, default)

    def get_ints(self, key: str, default: Sequence[int] | None = None) -> list[int]:
        raw = self._raw(key)
        if raw is None:
            if default is None:
                raise CfgError(f"{self.where()}: missing required option {key!r}")
            return list(default)
        try:
            return [int(part) for part in raw.split(",") if part.strip()]
        except ValueError as error:
            raise CfgError(f"{self.where()}: {key}={raw!r} is not a list of integers") from error

    def get_floats(self, key: str) -> list[float]:
        raw = self._raw(key)
        if raw is None:
            raise CfgError(f"{self.where()}: missing required option {key!r}")
        try:
            return [float(part) for part in raw.split(",") if part.strip()]
        except ValueError as error:
            raise CfgError(f"{self.where()}: {key}={raw!r} is not a list of numbers") from error


@dataclass(frozen=True)
class DarknetCfg:
    """A parsed cfg: the [net] options and the layers in file order."""

    net: Section
    layers: tuple[Section, ...]

    @property
    def input_wh(self) -> tuple[int, int]:
        return self.net.get_int("width", 416), self.net.get_int("height", 416)

    @property
    def channels(self) -> int:
        return self.net.get_int("channels", 3)


def parse_cfg(text: str) -> DarknetCfg:
    """Parse cfg text. Comments (# or ;) and blank lines are skipped; keys keep file order."""
    sections: list[Section] = []
    current: Section | None = None
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise CfgError(f"line {number}: unterminated section header {line!r}")
            current = Section(kind=line[1:-1].strip().lower(), index=len(sections) - 1, line=number)
            sections.append(current)
            continue
        if current is None:
            raise CfgError(f"line {number}: option {line!r} before any [section]")
        if "=" not in line:
            raise CfgError(f"line {number}: expected key=value, got {line!r}")
        key, value = line.split("=", 1)
        current.options[key.strip()] = value.strip()
    if not sections or sections[0].kind not in {"net", "network"}:
        raise CfgError("a Darknet cfg must start with a [net] section")
    layers = tuple(sections[1:])
    for layer in layers:
        if layer.kind not in SUPPORTED_LAYERS:
            raise CfgError(
                f"{layer.where()}: layer type not supported (supported: {sorted(SUPPORTED_LAYERS)})"
            )
    return DarknetCfg(net=sections[0], layers=layers)


def read_cfg(path: str | os.PathLike[str]) -> DarknetCfg:
    return parse_cfg(Path(path).read_text(encoding="utf-8"))
