"""A small Dockerfile reader: enough to check what the images promise, without a Docker engine."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    name: str
    base: str  # an image reference, or the name of an earlier stage
    instructions: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Dockerfile:
    path: Path
    args: dict[str, str]  # ARGs declared before the first FROM, with their defaults
    stages: dict[str, Stage]

    def chain(self, target: str) -> list[Stage]:
        """The stage and the stages it is built FROM, nearest first."""
        stages = [self.stages[target]]
        while stages[-1].base in self.stages:
            stages.append(self.stages[stages[-1].base])
        return stages

    def base_image(self, target: str) -> str:
        return self.expand(self.chain(target)[-1].base)

    def last(self, target: str, instruction: str) -> str | None:
        """The value of an instruction as the target sees it (the nearest stage that sets it)."""
        for stage in self.chain(target):
            values = [value for name, value in stage.instructions if name == instruction]
            if values:
                return values[-1]
        return None

    def env(self, target: str) -> dict[str, str]:
        env: dict[str, str] = {}
        for stage in reversed(self.chain(target)):
            for name, value in stage.instructions:
                if name == "ENV":
                    env.update(parse_env(value))
        return env

    def expand(self, text: str) -> str:
        return re.sub(
            r"\$\{(\w+)\}|\$(\w+)", lambda m: self.args.get(m.group(1) or m.group(2), m.group(0)), text
        )


def logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


def parse(path: Path) -> Dockerfile:
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for line in logical_lines(path.read_text()):
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else f"stage{len(stages)}"
            stage = Stage(name=name, base=words[0])
            stages[name] = stage
        elif stage is None and instruction == "ARG":
            key, _, default = rest.partition("=")
            args[key.strip()] = default.strip()
        elif stage is not None:
            stage.instructions.append((instruction, rest.strip()))
    return Dockerfile(path=path, args=args, stages=stages)


def parse_env(value: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in shlex.split(value))


def exec_form(value: str | None) -> list[str] | None:
    """The JSON array of an exec-form ENTRYPOINT/CMD, or None for the shell form."""
    if value is None or not value.startswith("["):
        return None
    return json.loads(value)


def healthcheck_command(value: str | None) -> list[str] | None:
    if value is None or value.strip().upper() == "NONE":
        return None
    _options, _, command = value.partition("CMD ")
    return exec_form(command.strip())
