"""The manifests against the running programs: every health service name a probe asks for is one
the real program serves (asked over gRPC, grpc.health.v1), and each container's environment is
accepted by the program's own parser and start-up checks; the face detector and the classifier
are started with it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import deploy_checks as deploy
import numpy as np
import pytest

from liquidedge.service import ServiceHandle
from liquidedge.v1 import detection_pb2
from support.calls import SERVING, detect, health_status


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


def manifest_env(overlay: str, program: str) -> dict[str, str]:
    objects = deploy.render(overlay)
    container = next(c for _w, c, p in deploy.containers(objects) if p == program)
    return deploy.container_env(objects, container)


def on_this_machine(env: dict[str, str], model_dir: str, root: Path) -> dict[str, str]:
    """A manifest environment with its paths moved here: the backbone baked into the image at
    /models (test_deploy_docker checks that) is in `model_dir`, the store's volume and the cache
    are under `root`."""
    moved = {"MODELSTORE_URL": str(root / "store"), "MODELSTORE_CACHE_DIR": str(root / "cache")}
    if env.get("LIQUIDEDGE_MODEL_DIR") == deploy.BAKED_MODEL_DIR:
        moved["LIQUIDEDGE_MODEL_DIR"] = model_dir
    return {**env, **moved}


@pytest.fixture(scope="module")
def classification_service(
    model_dir: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceHandle]:
    """The classifier as scaled-cpu configures it (crops mode, its store and backbone moved here), on
    a store whose channel holds one version (it will not start without one): an untrained head on
    the real backbone, which answers every crop with even odds and so passes the smoke test."""
    from classification.features import BackboneFeatures
    from classification.model import ENGINE, FORMAT, ClassifierModel, LinearHead
    from classification.service import build_parser, start
    from modelstore import open_store

    root = tmp_path_factory.mktemp("classification")
    env = on_this_machine(manifest_env("scaled-cpu", "classification"), model_dir, root)
    features = BackboneFeatures(
        Path(model_dir) / f"{env['CLASSIFIER_BACKBONE']}.cfg",
        Path(model_dir) / f"{env['CLASSIFIER_BACKBONE']}.weights",
    )
    dim = features.dim
    head = LinearHead(np.zeros((2, dim)), np.zeros(2), np.zeros(dim), np.ones(dim))
    store = open_store(env["MODELSTORE_URL"])
    files = ClassifierModel(("bottle-a", "bottle-b"), head, features.spec).save(root / "v1")
    version = store.publish(env["MODEL_NAME"], files, engine=ENGINE, format=FORMAT).version
    store.promote(env["MODEL_NAME"], version, env["MODEL_CHANNEL"])
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        # Only the address differs from the pod: loopback and a free port, no metrics listener.
        args = build_parser().parse_args(["--host", "127.0.0.1", "--port", "0", "--metrics-port", "-1"])
    handle = start(args)
    yield handle
    handle.stop(0)


@pytest.fixture(scope="module")
def ports(
    aggregator_service: ServiceHandle,
    face_service: ServiceHandle,
    yolo_service: ServiceHandle,
    recognition_service: ServiceHandle,
    classification_service: ServiceHandle,
) -> dict[str, int]:
    return {
        "objectdetection": aggregator_service.port,
        "facedetection": face_service.port,
        "yolodetection": yolo_service.port,
        "facerecognition": recognition_service.port,
        "classification": classification_service.port,
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
        ("classification", "liquidedge.v1.Gallery"),  # the recognition service's other service
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
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_dir: str, program: str, env: dict[str, str]
) -> None:
    """The code's own parser reads the variables and its own start-up checks accept the values.
    Files from Secrets (`*_FILE`) are stood in for by files of the same kind here: the Secret's
    own placeholders are refused on purpose (test_placeholder_secret_is_refused_at_start). The
    classifier's checks look for its backbone files, which the image bakes at /models: they are
    looked for in this machine's model directory instead."""
    code = deploy.programs()[program]
    if program == "classification":
        env = on_this_machine(env, model_dir, tmp_path)
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


def test_classifier_serves_the_engine_the_aggregator_calls_it_as(
    classification_service: ServiceHandle, astronaut_jpeg: bytes
) -> None:
    """Started with scaled-cpu's environment, the classifier is the refining engine the aggregator's
    CLASSIFIER_CROPS_ADDR expects: one labelled box back per box sent as a region."""
    env = manifest_env("scaled-cpu", "objectdetection")
    assert env["CLASSIFIER_CROPS_ADDR"].startswith("dns:///classification.")
    bottle = detection_pb2.Detection(
        label="bottle",
        engine="yolo",
        confidence=0.9,
        box=detection_pb2.Box(x=100, y=100, width=120, height=160),
    )
    answer = detect(classification_service.port, astronaut_jpeg, regions=[bottle])
    assert [status.engine for status in answer.engines] == ["classifier-crops"]
    assert len(answer.detections) == 1
    assert answer.detections[0].attributes["class"] in {"bottle-a", "bottle-b"}
