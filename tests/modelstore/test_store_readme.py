"""The README's tables name every flag and environment variable of the store, ingest and trainer."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasetingest.service import build_parser as ingest_parser
from modelstore.cli import build_parser as store_parser
from modeltrainer.service import build_parser as trainer_parser

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "build", [store_parser, ingest_parser, trainer_parser], ids=["modelstore", "ingest", "trainer"]
)
def test_every_flag_and_env_var_is_documented(build) -> None:
    parser = build()
    missing = [
        f"{flag} / {env}"
        for flag, env in parser.env_names.items()
        if f"`{flag}`" not in README or f"`{env}`" not in README
    ]
    assert not missing, f"undocumented in README.md: {missing}"
