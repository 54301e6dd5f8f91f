"""The cluster's per-program settings are the program's own defaults, but for what a pod decides.

A base ConfigMap that names a program's flags shows an operator what they can change; its values
must be the code's defaults, or a change of default in the code is left behind in the cluster.
It happened: the face ConfigMap kept OpenCV's usual 1.1 / 5 at full resolution after the service's
defaults moved to the cheaper setting that finds the same faces (docs/cpu.md), so a cluster spent
about twice a laptop's CPU per frame. What a pod decides for itself (its paths, the classifier's
mode, checked against the aggregator's wiring by test_deploy_crossref) is listed per program.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass, field
from pathlib import Path

import deploy_checks as deploy
import pytest


@dataclass(frozen=True)
class ProgramConfig:
    module: str  # where build_parser lives
    env_file: str  # under kube/base/config
    prefixes: tuple[str, ...]  # the environment names this file must carry
    deployment_own: dict[str, str] = field(default_factory=dict)
    not_carried: tuple[str, ...] = ()
    must_include: tuple[str, ...] = ()


PROGRAMS = [
    ProgramConfig(
        "facedetection.service",
        "facedetection.env",
        ("FACE_",),
        not_carried=("FACE_CASCADE",),  # a path in the image, not a tuning choice
        must_include=("FACE_SCALE_FACTOR", "FACE_MIN_NEIGHBORS", "FACE_MIN_SIZE", "FACE_DOWNSCALE"),
    ),
    ProgramConfig(
        "classification.service",
        "classification.env",
        ("CLASSIFIER_", "MODEL_NAME", "MODEL_CHANNEL", "MODEL_POLL_S", "MODELSTORE_"),
        deployment_own={
            "LIQUIDEDGE_MODEL_DIR": "/models",
            "MODELSTORE_URL": "/var/lib/liquidedge/modelstore",
            "MODELSTORE_CACHE_DIR": "/tmp/modelcache",
            "CLASSIFIER_MODE": "crops",
        },
        not_carried=("MODELSTORE_S3_ENDPOINT",),  # only with an s3:// store
        must_include=("CLASSIFIER_BACKBONE", "CLASSIFIER_INSTANCES", "MODEL_NAME", "MODEL_CHANNEL"),
    ),
]


def env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


def flag_destinations(parser: argparse.ArgumentParser, env_names: dict[str, str]) -> dict[str, str]:
    """Environment name -> argparse dest, for every flag with an environment twin."""
    dest_of = {flag: action.dest for action in parser._actions for flag in action.option_strings}
    return {env: dest_of[flag] for flag, env in env_names.items()}


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.env_file)
def test_the_base_config_is_the_program_defaults(program: ProgramConfig) -> None:
    configured = env_file(Path(deploy.KUBE) / "base" / "config" / program.env_file)
    parser = importlib.import_module(program.module).build_parser()
    defaults = parser.parse_args([])
    own = {
        env: dest
        for env, dest in flag_destinations(parser, parser.env_names).items()
        if env.startswith(program.prefixes) and env not in program.not_carried
    }
    assert set(program.must_include) <= set(own), own
    missing = sorted(set(own) - set(configured))
    assert missing == [], f"kube/base/config/{program.env_file} lacks {missing}"
    for env, dest in own.items():
        if env in program.deployment_own:
            assert configured[env] == program.deployment_own[env]
            continue
        default = getattr(defaults, dest)
        assert type(default)(configured[env]) == default, f"{env}={configured[env]}, the default is {default}"
    for env in ("PORT", "METRICS_PORT"):
        assert int(configured[env]) == getattr(defaults, env.lower())
