"""The cluster's classifier settings are the service's own defaults, but for what a pod decides.

kube/base/config/classification.env names every flag of the classifier's own (its backbone, its
instances, its store channel and poll) so an operator sees them; the values are the code's
defaults, held to them here so that a change of default in the code is not left behind. Only
the paths of the pod (the image's /models, the store's volume, the cache under /tmp) and the
mode (crops: the refining engine the scaled overlays wire the aggregator to, checked against
the aggregator's CLASSIFIER_CROPS_ADDR by test_deploy_crossref) are the deployment's own.
"""

from __future__ import annotations

from pathlib import Path

import deploy_checks as deploy

from classification.service import build_parser

DEPLOYMENT_OWN = {
    "LIQUIDEDGE_MODEL_DIR": "/models",
    "MODELSTORE_URL": "/var/lib/liquidedge/modelstore",
    "MODELSTORE_CACHE_DIR": "/tmp/modelcache",
    "CLASSIFIER_MODE": "crops",
}
# The classifier's own flags and its store's (the common ones live in common.env).
OWN_FLAGS = ("CLASSIFIER_", "MODEL_NAME", "MODEL_CHANNEL", "MODEL_POLL_S", "MODELSTORE_")


def env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


def test_the_base_classifier_config_is_the_service_defaults() -> None:
    configured = env_file(Path(deploy.KUBE) / "base" / "config" / "classification.env")
    parser = build_parser()
    defaults = parser.parse_args([])
    dest_of = {flag: action.dest for action in parser._actions for flag in action.option_strings}
    own = {env: dest_of[flag] for flag, env in parser.env_names.items() if env.startswith(OWN_FLAGS)}
    own.pop("MODELSTORE_S3_ENDPOINT")  # only with an s3:// store
    assert {"CLASSIFIER_BACKBONE", "CLASSIFIER_INSTANCES", "MODEL_NAME", "MODEL_CHANNEL"} <= set(own)
    missing = sorted(set(own) - set(configured))
    assert missing == [], f"kube/base/config/classification.env lacks {missing}"
    for env, dest in own.items():
        if env in DEPLOYMENT_OWN:
            assert configured[env] == DEPLOYMENT_OWN[env]
            continue
        default = getattr(defaults, dest)
        assert type(default)(configured[env]) == default, (
            f"{env}={configured[env]}, the service's default is {default}"
        )
    for env in ("PORT", "METRICS_PORT"):
        assert int(configured[env]) == getattr(defaults, env.lower())
