"""The README documents every flag and environment variable of the camera gateway."""

from __future__ import annotations

from pathlib import Path

from cameragateway.service import build_parser

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_gateway_flag_and_env_var_is_in_the_readme_table() -> None:
    table = README.split("### Camera gateway (`cameragateway`)", 1)[1].split("\n## ", 1)[0]
    missing = [
        f"{flag} / {env}"
        for flag, env in build_parser().env_names.items()
        if f"| `{flag}` | `{env}` |" not in table
    ]
    assert not missing, f"undocumented in README.md's camera gateway table: {missing}"
