"""docs/deploy.md (the README's deploy section) names only things that exist: overlays, files,
environment variables the programs read, flags the robot client has, make targets."""

from __future__ import annotations

import re

import deploy_checks as deploy
import pytest

DOC = deploy.REPO / "docs" / "deploy.md"
TEXT = DOC.read_text()

# Upper-case names in the doc that are not program settings: shell variables of the procedure,
# Docker build arguments, make variables, the variable a service link would inject.
NOT_SETTINGS = {
    "YOLODETECTION_PORT",
    "GATEWAY",
    "PYTORCH_IMAGE",
    "PYTHON_IMAGE",
    "IMAGE_REPO",
    "IMAGE_TAG",
    "CUDA",
    "PATH",
    "SIGTERM",
    # boto3's own variables (the model store's credentials), not a program's flags
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
}


def robot_env() -> set[str]:
    from robotclient import cli, videoclip

    return set(cli.build_parser().env_names.values()) | set(videoclip.build_parser().env_names.values())


def known_env() -> set[str]:
    programs = {env for code in deploy.programs().values() for env in code.env_flags}
    return programs | robot_env() | set(deploy.DOWNWARD_ENV)


def test_every_setting_the_doc_names_is_read_by_a_program() -> None:
    named = set(re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?:=[^`]*)?`", TEXT))
    named |= set(re.findall(r"^\s*(?:- )?([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)=", TEXT, flags=re.MULTILINE))
    named |= set(re.findall(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)=\"", TEXT))
    assert named, "the doc names no settings: the pattern is broken"
    assert named - NOT_SETTINGS - known_env() == set()


@pytest.mark.parametrize("overlay", sorted(set(re.findall(r"kube/overlays/([a-z-]+)", TEXT))))
def test_overlays_the_doc_names_exist(overlay: str) -> None:
    assert overlay in deploy.OVERLAYS


@pytest.mark.parametrize(
    "path", sorted(set(re.findall(r"\b((?:kube|docker)/[\w./-]*[\w])", TEXT)) - {"kube/overlays/scaled"})
)
def test_paths_the_doc_names_exist(path: str) -> None:
    assert (deploy.REPO / path).exists(), path


def test_robot_client_flags_in_the_doc_exist() -> None:
    from robotclient import cli, videoclip

    flags = {f for action in cli.build_parser()._actions for f in action.option_strings}
    flags |= {f for action in videoclip.build_parser()._actions for f in action.option_strings}
    used = set(re.findall(r"^(?:[A-Z_]+=\S+ )?robotclient (.*)$", TEXT, flags=re.MULTILINE))
    named = {flag for line in used for flag in re.findall(r"(--[a-z-]+)", line)}
    assert named and named <= flags


def test_make_targets_the_doc_names_exist() -> None:
    makefiles = "\n".join(
        p.read_text() for p in [deploy.REPO / "Makefile", *(deploy.REPO / "mk").glob("*.mk")]
    )
    for target in set(re.findall(r"(?:^|`)make ([a-z-]+)", TEXT, flags=re.MULTILINE)):
        assert re.search(rf"^{target}:", makefiles, flags=re.MULTILINE), target


def test_doc_states_what_was_not_exercised() -> None:
    assert "### What was and was not exercised here" in TEXT
    assert "no image was built" in TEXT and "nothing was applied to a cluster" in TEXT
