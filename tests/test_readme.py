"""The README's configuration tables must name every flag and environment variable the code reads."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from support.programs import SERVICE_MODULES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
# Every program whose flags the README's tables document: the services, and the command lines of
# the model store, the dataset ingest, the trainer and the gallery.
DOCUMENTED = {
    **SERVICE_MODULES,
    "modelstore": "modelstore.cli",
    "datasetingest": "datasetingest.service",
    "modeltrainer": "modeltrainer.service",
    "liquidedge-gallery": "facerecognition.cli",
}


@pytest.mark.parametrize("program", sorted(DOCUMENTED))
def test_every_flag_and_env_var_is_documented(program: str) -> None:
    parser = importlib.import_module(DOCUMENTED[program]).build_parser()
    missing = [
        f"{flag} / {env}"
        for flag, env in parser.env_names.items()
        if f"`{flag}`" not in README or f"`{env}`" not in README
    ]
    assert not missing, f"undocumented in README.md: {missing}"


def test_quick_start_is_two_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("```", 2)[1]
    assert [line.split()[0:2] for line in quick.strip().splitlines()[1:]] == [
        ["make", "run"],
        ["make", "test"],
    ]
