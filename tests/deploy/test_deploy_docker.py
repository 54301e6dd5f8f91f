"""The images, checked without a Docker engine: Dockerfiles read as text, what they promise
(entrypoints, ports, environment, user, health check) compared with the code and the manifests,
and the health-check script run against the real programs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import deploy_checks as deploy
import dockerfiles
import pytest

from liquidedge.service import ServiceHandle
from support.ports import free_port

DOCKER = deploy.REPO / "docker"
HEALTHCHECK = DOCKER / "healthcheck.py"
# Environment an image may set besides the programs' own flags.
RUNTIME_ENV = {"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "HOME", "XDG_CACHE_HOME"}
BUILD_ENV = {"PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK"}


def images() -> list[tuple[str, Path, str]]:
    """(image, Dockerfile, target) as `make images-list` prints them."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "images-list"],
        cwd=deploy.REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        (image, deploy.REPO / file, target)
        for image, file, target in (line.split() for line in out.splitlines())
    ]


IMAGES = images()
SERVICE_IMAGES = [(i, f, t) for i, f, t in IMAGES if t.removesuffix("-cuda") in deploy.programs()]


def program(target: str) -> str:
    return target.removesuffix("-cuda")


def test_make_images_builds_every_image_the_manifests_use_and_the_robot_client() -> None:
    used = {
        container["image"]
        for overlay in deploy.OVERLAYS
        for workload in deploy.workloads(deploy.render(overlay))
        for container in deploy.pod_spec(workload)["containers"]
    }
    built = {image for image, _f, _t in IMAGES}
    assert used <= built
    assert built - used == {f"liquidedge/robotclient:{deploy.project_version()}"}
    assert all(image.endswith(":" + deploy.project_version()) for image in built)


def test_make_images_says_plainly_when_there_is_no_docker_engine() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "images", "DOCKER=/nonexistent/docker"],
        cwd=deploy.REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "no Docker engine reachable here" in result.stderr and "no image was built" in result.stderr


@pytest.mark.parametrize(("image", "dockerfile", "target"), IMAGES, ids=[i for i, _f, _t in IMAGES])
def test_image_is_multi_stage_pinned_and_non_root(image: str, dockerfile: Path, target: str) -> None:
    parsed = dockerfiles.parse(dockerfile)
    assert target in parsed.stages, f"{dockerfile.name} has no stage {target}"
    assert len(parsed.stages) >= 3  # build, (models,) runtime: no compilers or pip caches shipped
    for stage in parsed.stages.values():
        if stage.base not in parsed.stages:
            base = parsed.expand(stage.base)
            assert re.search(r":\d[\w.-]*$|@sha256:[0-9a-f]{64}$", base), f"{base} is not pinned to a version"
    # The runtime stage is a fresh base image: only /opt/liquidedge (and /models) come across.
    assert parsed.chain(target)[-1].name not in {"build", "models"}
    user = parsed.last(target, "USER")
    assert user is not None and user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0
    uids = {
        deploy.pod_spec(w)["securityContext"]["runAsUser"]
        for overlay in deploy.OVERLAYS
        for w in deploy.workloads(deploy.render(overlay))
    }
    assert uids == {int(user.split(":")[0])}, "the manifests run as another user than the image"


@pytest.mark.parametrize(("image", "dockerfile", "target"), IMAGES, ids=[i for i, _f, _t in IMAGES])
def test_entrypoint_is_exec_form_and_runs_a_module_that_exists(
    image: str, dockerfile: Path, target: str
) -> None:
    entrypoint = dockerfiles.exec_form(dockerfiles.parse(dockerfile).last(target, "ENTRYPOINT"))
    assert entrypoint is not None, "shell-form ENTRYPOINT: SIGTERM would go to /bin/sh, not the program"
    assert entrypoint[:2] == ["python", "-m"] and entrypoint[2] == program(target)
    assert (deploy.REPO / "src" / entrypoint[2] / "__main__.py").is_file()


@pytest.mark.parametrize(
    ("image", "dockerfile", "target"), SERVICE_IMAGES, ids=[i for i, _f, _t in SERVICE_IMAGES]
)
def test_image_ports_health_check_and_environment_match_the_code(
    image: str, dockerfile: Path, target: str
) -> None:
    parsed = dockerfiles.parse(dockerfile)
    code = deploy.programs()[program(target)]
    assert sorted(int(p) for p in (parsed.last(target, "EXPOSE") or "").split()) == sorted(
        [code.grpc_port, code.metrics_port]
    )
    health = dockerfiles.healthcheck_command(parsed.last(target, "HEALTHCHECK"))
    assert health is not None, "no HEALTHCHECK"
    assert health[:2] == ["python", "/opt/liquidedge/healthcheck.py"]
    assert health[health.index("--port") + 1] == str(code.grpc_port)
    copies = [value for stage in parsed.chain(target) for name, value in stage.instructions if name == "COPY"]
    assert "docker/healthcheck.py /opt/liquidedge/healthcheck.py" in copies
    env = parsed.env(target)
    assert env["BIND_HOST"] == "0.0.0.0"
    unknown = set(env) - set(code.env_flags) - RUNTIME_ENV - BUILD_ENV
    assert unknown == set(), f"ENV the program does not read: {unknown}"
    for name, value in env.items():
        action = code.env_flags.get(name)
        if action is not None and action.choices is not None:
            assert value in action.choices, f"{name}={value} is not one of {action.choices}"


def test_yolo_images_bake_the_default_model_where_the_manifests_look() -> None:
    for _image, dockerfile, target in IMAGES:
        if program(target) != "yolodetection":
            continue
        parsed = dockerfiles.parse(dockerfile)
        copies = [value for name, value in parsed.stages[target].instructions if name == "COPY"]
        assert "--from=models /models /models" in copies
        models = [value for name, value in parsed.stages["models"].instructions if name == "RUN"]
        assert any("-m yolodetection.model_fetch --dest /models" in run for run in models)
        assert parsed.env(target)["LIQUIDEDGE_MODEL_DIR"] == "/models"
    for overlay in deploy.OVERLAYS:
        objects = deploy.render(overlay)
        for _w, container, name in deploy.containers(objects):
            if name == "yolodetection":
                assert deploy.container_env(objects, container)["LIQUIDEDGE_MODEL_DIR"] == "/models"


def test_classifier_image_bakes_the_backbone_the_manifests_name() -> None:
    """The classifier's heads only work on the backbone they were trained on: the image holds the
    Darknet files of the backbone its manifests name, fetched by the project's checksum-pinned
    tool (the same files `make models` gives the trainer), where LIQUIDEDGE_MODEL_DIR looks."""
    from yolodetection.model_fetch import TINY_SHA256

    image, dockerfile, target = next(spec for spec in IMAGES if program(spec[2]) == "classification")
    parsed = dockerfiles.parse(dockerfile)
    copies = [value for name, value in parsed.stages[target].instructions if name == "COPY"]
    baked = next(value for value in copies if value.startswith("--from=") and value.endswith(" /models/"))
    stage = baked.split()[0].removeprefix("--from=")
    runs = [value for name, value in parsed.stages[stage].instructions if name == "RUN"]
    assert any("-m yolodetection.model_fetch --dest /models" in run for run in runs)
    assert parsed.env(target)["LIQUIDEDGE_MODEL_DIR"] == deploy.BAKED_MODEL_DIR
    default = deploy.programs()["classification"].env_flags["CLASSIFIER_BACKBONE"].default
    seen = 0
    for overlay in deploy.OVERLAYS:
        objects = deploy.render(overlay)
        for _w, container, name in deploy.containers(objects):
            if name != "classification":
                continue
            seen += 1
            env = deploy.container_env(objects, container)
            assert env["LIQUIDEDGE_MODEL_DIR"] == deploy.BAKED_MODEL_DIR
            backbone = env.get("CLASSIFIER_BACKBONE", default)
            for suffix in (".cfg", ".weights"):
                assert f"{backbone}{suffix}" in TINY_SHA256, f"model_fetch does not fetch {backbone}{suffix}"
                assert f"/models/{backbone}{suffix}" in baked.split()[1:-1], (
                    f"{image} lacks {backbone}{suffix}"
                )
    assert seen, "no overlay runs the classifier"


def test_build_context_sends_what_the_dockerfiles_copy() -> None:
    for ignore in sorted(DOCKER.glob("*.dockerignore")):
        rules = [line for line in ignore.read_text().splitlines() if line and not line.startswith("#")]
        assert rules[0] == "*", f"{ignore.name}: start from nothing"
        for wanted in ("pyproject.toml", "README.md", "src/", "docker/healthcheck.py"):
            assert f"!{wanted}" in rules, f"{ignore.name} leaves out {wanted}"
        # The tools drive the mesh from outside: excluded after src/ is let in, so no image has them.
        assert "src/meshtools" in rules[rules.index("!src/") :], f"{ignore.name} sends the tools"
        assert (DOCKER / ignore.name.removesuffix(".dockerignore")).is_file()


# ---- docker/healthcheck.py against the real programs ------------------------------------------


def run_healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), "--timeout-s", "2", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


@pytest.fixture(scope="module")
def unused_port() -> int:
    return free_port()


def test_healthcheck_says_healthy_for_a_serving_program(face_service: ServiceHandle) -> None:
    result = run_healthcheck("--port", str(face_service.port))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"<server> on port {face_service.port}: SERVING"  # not NOT_SERVING


def test_healthcheck_follows_the_port_in_the_environment(yolo_service: ServiceHandle) -> None:
    env = {**os.environ, "PORT": str(yolo_service.port)}
    result = subprocess.run(
        [sys.executable, str(HEALTHCHECK), "--port", "1", "--service", "YoloDetection"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # It asked the port $PORT names (the --port 1 it was given answers nothing).
    assert result.stdout.strip() == f"YoloDetection on port {yolo_service.port}: SERVING"


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("NoSuchService", "NOT_FOUND"),  # a name the program does not register
    ],
)
def test_healthcheck_says_unhealthy_for_an_unknown_service(
    face_service: ServiceHandle, service: str, expected: str
) -> None:
    result = run_healthcheck("--port", str(face_service.port), "--service", service)
    assert result.returncode == 1 and expected in result.stdout


def test_healthcheck_says_unhealthy_when_nothing_listens(unused_port: int) -> None:
    result = run_healthcheck("--port", str(unused_port))
    assert result.returncode == 1 and "UNAVAILABLE" in result.stdout


def test_healthcheck_says_unhealthy_while_not_serving() -> None:
    from liquidedge.server import ServerOptions, create_server

    running = create_server([], ServerOptions(host="127.0.0.1", port=0))  # NOT_SERVING until told
    try:
        result = run_healthcheck("--port", str(running.port))
        assert result.returncode == 1 and "NOT_SERVING" in result.stdout
        running.set_serving(True)
        serving = run_healthcheck("--port", str(running.port))
        assert (serving.returncode, serving.stdout.strip()) == (
            0,
            f"<server> on port {running.port}: SERVING",
        )
    finally:
        running.stop(0)
