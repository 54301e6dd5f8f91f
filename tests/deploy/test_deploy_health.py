"""The manifests against the running programs: every health service name a probe asks for is one
the real program serves (asked over gRPC, grpc.health.v1), and each container's environment is
accepted by the program's own parser and start-up checks; the face detector is started with it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import deploy_checks as deploy
import pytest

from liquidedge.service import ServiceHandle
from support.calls import SERVING, health_status


@pytest.fixture(scope="module")
def recognition_service(model_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceHandle]:
    """The recognition service on an empty model store (it serves before any gallery exists)."""
    from facerecognition.service import build_parser, start

    root = tmp_path_factory.mktemp("recognition")
    args = ["--port", "0", "--metrics-port", "-1", "--model-dir", model_dir, "--embed-workers", "0"]
    store = ["--model-store", str(root / "store"), "--model-cache-dir", str(root / "cache")]
    handle = start(build_parser().parse_args([*args, *store]))
    yield handle
    handle.stop(0)


@pytest.fixture(scope="module")
def ports(
    aggregator_service: ServiceHandle,
    face_service: ServiceHandle,
    yolo_service: ServiceHandle,
    recognition_service: ServiceHandle,
) -> dict[str, int]:
    return {
        "objectdetection": aggregator_service.port,
        "facedetection": face_service.port,
        "yolodetection": yolo_service.port,
        "facerecognition": recognition_service.port,
    }


@pytest.fixture(scope="module")
def serves(ports: dict[str, int]) -> Callable[[str, str], bool]:
    def ask(program: str, service: str) -> bool:
        return health_status(ports[program], service) == SERVING

    return ask


ALL_PROBES = sorted(set().union(*(deploy.probe_services(deploy.render(o)) for o in deploy.OVERLAYS)))


@pytest.mark.parametrize(("program", "service"), ALL_PROBES)
def test_probed_health_service_is_serving(ports: dict[str, int], program: str, service: str) -> None:
    assert health_status(ports[program], service) == SERVING


def test_probes_cover_the_v1_and_legacy_names() -> None:
    services = {service for _program, service in ALL_PROBES}
    assert {"", "liquidedge.v1.Detector", "ObjectDetection"} <= services


@pytest.mark.parametrize("overlay", deploy.OVERLAYS)
def test_probes_ask_what_the_programs_serve(overlay: str, serves: Callable[[str, str], bool]) -> None:
    assert deploy.check_probes(deploy.render(overlay), serves) == []


@pytest.mark.parametrize(
    ("program", "typo"),
    [
        ("facedetection", "liquidedge.v1.Detecter"),  # misspelt
        ("yolodetection", "FaceDetection"),  # another program's legacy service
        ("objectdetection", "objectdetection"),  # the program's name is not a gRPC service
    ],
)
def test_a_probe_asking_for_an_unknown_service_is_caught(
    serves: Callable[[str, str], bool], program: str, typo: str
) -> None:
    objects = deploy.render("scaled-cpu")
    workload = deploy.by_name(objects, "Deployment")[program]
    deploy.pod_spec(workload)["containers"][0]["readinessProbe"]["grpc"]["service"] = typo
    problems = deploy.check_probes(objects, serves)
    assert problems == [
        f"Deployment/{program}/{program}: readinessProbe asks health for {typo!r}, which {program} does not serve"
    ]


def containers_of_every_overlay() -> Iterator[tuple[str, str, str, dict[str, str]]]:
    for overlay in deploy.OVERLAYS:
        objects = deploy.render(overlay)
        for workload, container, program in deploy.containers(objects):
            yield (
                overlay,
                f"{deploy.ref(workload)}/{container['name']}",
                program,
                deploy.container_env(objects, container),
            )


@pytest.mark.parametrize(
    ("program", "env"),
    [
        pytest.param(program, env, id=f"{overlay}:{where}")
        for overlay, where, program, env in containers_of_every_overlay()
    ],
)
def test_program_accepts_its_manifest_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, program: str, env: dict[str, str]
) -> None:
    """The code's own parser reads the variables and its own start-up checks accept the values.
    Files from Secrets (`*_FILE`) are stood in for by files of the same kind here: the Secret's
    own placeholders are refused on purpose (test_placeholder_secret_is_refused_at_start)."""
    code = deploy.programs()[program]
    for name in {*code.env_flags, *deploy.DOWNWARD_ENV}:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if name.endswith("_FILE") and value:
            stand_in = tmp_path / name.lower()
            stand_in.write_text(f"token-for-{name.lower()}\n")
            value = str(stand_in)
        monkeypatch.setenv(name, value)
    parser = code.build_parser()
    args = parser.parse_args([])
    code.check_args(parser, args)
    assert (args.port, args.metrics_port, args.host) == (code.grpc_port, code.metrics_port, "0.0.0.0")


def test_face_detector_starts_and_serves_with_the_manifest_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from facedetection.service import build_parser, start

    objects = deploy.render("scaled-cpu")
    container = deploy.pod_spec(deploy.by_name(objects, "Deployment")["facedetection"])["containers"][0]
    for name, value in deploy.container_env(objects, container).items():
        monkeypatch.setenv(name, value)
    # Only the address differs from the pod: loopback and a free port, no metrics listener.
    handle = start(build_parser().parse_args(["--host", "127.0.0.1", "--port", "0", "--metrics-port", "-1"]))
    try:
        probe = container["readinessProbe"]["grpc"]["service"]
        assert health_status(handle.port, probe) == SERVING
    finally:
        handle.stop(0)


@pytest.mark.parametrize(
    ("program", "secret_name"),
    [("cameragateway", "cameragateway-tokens"), ("facerecognition", "facerecognition-operator-tokens")],
)
def test_placeholder_secret_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, program: str, secret_name: str
) -> None:
    """The tokens Secrets ship placeholders; a program started on them stops at once."""
    objects = deploy.render("scaled-cpu")
    secret = deploy.by_name(objects, "Secret")[secret_name]
    workload = deploy.by_name(objects, "Deployment")[program]
    container = deploy.pod_spec(workload)["containers"][0]
    code = deploy.programs()[program]
    files = deploy.mounted_files(objects, workload, container)
    for name, value in deploy.container_env(objects, container).items():
        if name.endswith("_FILE") and value:
            key = files[value].rsplit(":", 1)[1]
            copy = tmp_path / key
            copy.write_text(secret["stringData"][key])
            value = str(copy)
        monkeypatch.setenv(name, value)
    parser = code.build_parser()
    with pytest.raises(SystemExit):
        code.check_args(parser, parser.parse_args([]))
