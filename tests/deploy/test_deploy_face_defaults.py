"""The cluster's face settings are the service's measured defaults.

The base ConfigMap once kept OpenCV's usual 1.1 / 5 at full resolution after the service's
defaults moved to the cheaper setting that still finds every face the original finds (docs/cpu.md):
a cluster would have spent about twice the CPU per frame of a laptop for the same faces.
"""

from __future__ import annotations

from pathlib import Path

import deploy_checks as deploy

from facedetection.service import build_parser


def env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


def test_the_base_face_config_is_the_service_defaults() -> None:
    configured = env_file(Path(deploy.KUBE) / "base" / "config" / "facedetection.env")
    parser = build_parser()
    defaults = parser.parse_args([])
    dest_of = {flag: action.dest for action in parser._actions for flag in action.option_strings}
    face_flags = {env: dest_of[flag] for flag, env in parser.env_names.items() if env.startswith("FACE_")}
    face_flags.pop("FACE_CASCADE")  # a path in the image, not a tuning choice
    assert len(face_flags) >= 6, face_flags
    missing = sorted(set(face_flags) - set(configured))
    assert missing == [], f"kube/base/config/facedetection.env lacks {missing}"
    for env, dest in face_flags.items():
        default = getattr(defaults, dest)
        assert type(default)(configured[env]) == default, (
            f"{env}={configured[env]}, the service's default is {default}"
        )
