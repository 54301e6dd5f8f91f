"""Cross-reference checks on every rendered overlay: the manifests agree with each other and
with the code (flags, environment variables, default ports, images), and a broken manifest,
mutated here in the rendered YAML or in a copy of kube/ rendered again, is caught."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import deploy_checks as deploy
import pytest
from deploy_checks import Obj

pytestmark = pytest.mark.usefixtures("deploy_tools")


@pytest.mark.parametrize("check", list(deploy.CHECKS))
@pytest.mark.parametrize("overlay", deploy.OVERLAYS)
def test_overlay_passes_check(overlay: str, check: str) -> None:
    assert deploy.CHECKS[check](deploy.render(overlay)) == []


def first(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    return next(
        o for o in deploy.of_kind(objects, kind) if name is None or o["metadata"]["name"].startswith(name)
    )


def container(objects: list[Obj], kind: str, name: str, container_name: str) -> Obj:
    spec = deploy.pod_spec(first(objects, kind, name))
    return next(c for c in spec["containers"] if c["name"] == container_name)


def config(objects: list[Obj], prefix: str) -> dict[str, str]:
    return first(objects, "ConfigMap", prefix + "-")["data"]


def named(objects: list[Obj], kind: str, name: str) -> Obj:
    return deploy.by_name(objects, kind)[name]


def canary_env(objects: list[Obj]) -> list[Obj]:
    return deploy.pod_spec(named(objects, "Deployment", "yolodetection-canary"))["containers"][0]["env"]


def split_route(objects: list[Obj]) -> list[Obj]:
    return named(objects, "VirtualService", "yolodetection-split")["spec"]["http"][0]["route"]


# (overlay, what breaks, mutation of the rendered objects, check that must object, words in its report)
BROKEN: list[tuple[str, str, Callable[[list[Obj]], None], str, str]] = [
    (
        "scaled",
        "Service port renamed from grpc to http",
        lambda o: first(o, "Service", "facedetection")["spec"]["ports"][0].update(name="http"),
        "gRPC port naming",
        "named 'http', not grpc",
    ),
    (
        "scaled",
        "selector typo in the aggregator Service",
        lambda o: first(o, "Service", "objectdetection")["spec"].update(selector={"app": "objectdetecton"}),
        "services select pods",
        "matches no pod template",
    ),
    (
        "edge-local",
        "Service targetPort names a port the pod does not have",
        lambda o: first(o, "Service", "objectdetection")["spec"]["ports"][0].update(targetPort="grcp"),
        "services select pods",
        "targetPort 'grcp'",
    ),
    (
        "edge-local",
        "two containers of the edge pod both call their gRPC port grpc",
        lambda o: container(o, "DaemonSet", "edge-node-cpu", "facedetection")["ports"][0].update(name="grpc"),
        "gRPC port naming",
        "repeat within the pod",
    ),
    (
        "scaled",
        "Deployment selector typo (its own pods no longer match)",
        lambda o: first(o, "Deployment", "yolodetection")["spec"]["selector"]["matchLabels"].update(
            app="yolo"
        ),
        "workload selectors",
        "does not match its own pod labels",
    ),
    (
        "scaled-cpu",
        "readiness probe on the metrics port",
        lambda o: container(o, "Deployment", "facedetection", "facedetection")["readinessProbe"][
            "grpc"
        ].update(port=9153),
        "probes",
        "probes port 9153",
    ),
    (
        "edge-local",
        "startup probe removed from YOLO",
        lambda o: container(o, "DaemonSet", "edge-node-gpu", "yolodetection").pop("startupProbe"),
        "probes",
        "no startupProbe",
    ),
    (
        "scaled-cpu",
        "PORT in the ConfigMap differs from the container port",
        lambda o: config(o, "yolodetection").update(PORT="50056"),
        "ports match code",
        "PORT=50056",
    ),
    (
        "scaled",
        "BIND_HOST left at loopback",
        lambda o: config(o, "liquidedge-common").update(BIND_HOST="127.0.0.1"),
        "ports match code",
        "BIND_HOST='127.0.0.1'",
    ),
    (
        "scaled-cpu",
        "an environment variable the face program does not read (typo)",
        lambda o: config(o, "facedetection").update(FACE_MIN_NEIGBORS="3"),
        "env known to code",
        "FACE_MIN_NEIGBORS is not an environment variable facedetection reads",
    ),
    (
        "edge-local",
        "a value the code's flag type refuses",
        lambda o: config(o, "objectdetection").update(ENGINE_TIMEOUT_MS="2s"),
        "env known to code",
        "ENGINE_TIMEOUT_MS='2s' does not parse",
    ),
    (
        "scaled-cpu",
        "a LOG_FORMAT outside the flag's choices",
        lambda o: config(o, "liquidedge-common").update(LOG_FORMAT="yaml"),
        "env known to code",
        "LOG_FORMAT='yaml' is not one of",
    ),
    (
        "scaled",
        "POD_IP not set from the downward API",
        lambda o: container(o, "Deployment", "objectdetection", "objectdetection")["env"].pop(),
        "env known to code",
        "['POD_IP'] not set",
    ),
    (
        "scaled",
        "the aggregator dials a detector Service that does not exist",
        lambda o: config(o, "objectdetection").update(
            YOLODETECTION_ADDR="dns:///yolo.liquidedge.svc.cluster.local:50055"
        ),
        "aggregator reaches detectors",
        "no such Service",
    ),
    (
        "scaled-cpu",
        "detector Service no longer headless",
        lambda o: first(o, "Service", "yolodetection")["spec"].pop("clusterIP"),
        "aggregator reaches detectors",
        "not headless",
    ),
    (
        "scaled",
        "a missing ConfigMap reference",
        lambda o: container(o, "Deployment", "yolodetection", "yolodetection")["envFrom"][2][
            "configMapRef"
        ].update(name="yolodetection-cuda"),
        "config refs",
        "ConfigMap 'yolodetection-cuda' is not defined",
    ),
    (
        "scaled-cpu",
        "service links left on",
        lambda o: deploy.pod_spec(first(o, "Deployment", "yolodetection")).pop("enableServiceLinks"),
        "pod hardening",
        "enableServiceLinks must be false",
    ),
    (
        "edge-local",
        "a writable root filesystem",
        lambda o: container(o, "DaemonSet", "edge-node-cpu", "objectdetection")["securityContext"].update(
            readOnlyRootFilesystem=False
        ),
        "pod hardening",
        "root filesystem is writable",
    ),
    (
        "scaled",
        "grace period shorter than the drain",
        lambda o: deploy.pod_spec(first(o, "Deployment", "facedetection")).update(
            terminationGracePeriodSeconds=3
        ),
        "shutdown fits grace",
        "terminationGracePeriodSeconds 3",
    ),
    (
        "scaled-cpu",
        "scrape annotation on the gRPC port",
        lambda o: first(o, "Deployment", "objectdetection")["spec"]["template"]["metadata"][
            "annotations"
        ].update({"prometheus.io/port": "50051"}),
        "prometheus annotations",
        "is not a metrics port",
    ),
    (
        "scaled",
        "HPA pointed at a Deployment that does not exist",
        lambda o: first(o, "HorizontalPodAutoscaler", "yolodetection")["spec"]["scaleTargetRef"].update(
            name="yolo"
        ),
        "scaling objects",
        "does not exist",
    ),
    (
        "scaled",
        "GPU YOLO without the GPU toleration",
        lambda o: deploy.pod_spec(first(o, "Deployment", "yolodetection")).pop("tolerations"),
        "GPU placement",
        "does not tolerate",
    ),
    (
        "edge-local",
        "CPU edge pod given the CUDA image",
        lambda o: container(o, "DaemonSet", "edge-node-cpu", "yolodetection").update(
            image="liquidedge/yolodetection-cuda:0.1.0"
        ),
        "GPU placement",
        "CUDA image True but nvidia.com/gpu limit 0",
    ),
    (
        "scaled-cpu",
        "an image tag no `make images` produces",
        lambda o: container(o, "Deployment", "facedetection", "facedetection").update(
            image="liquidedge/facedetection:latest"
        ),
        "images",
        "is not built by `make images`",
    ),
    (
        "edge-local",
        "YOLO pointed at a model directory that is not there",
        lambda o: config(o, "yolodetection").update(LIQUIDEDGE_MODEL_DIR="/modelz"),
        "model dir",
        "LIQUIDEDGE_MODEL_DIR='/modelz' is neither",
    ),
    (
        "scaled",
        "VirtualService routes to a port the Service does not have",
        lambda o: first(o, "VirtualService", "objectdetection")["spec"]["http"][1]["route"][0]["destination"][
            "port"
        ].update(number=50052),
        "Istio wiring",
        "has no port 50052",
    ),
    (
        "edge-local",
        "VirtualService names a Gateway that does not exist",
        lambda o: first(o, "VirtualService", "objectdetection")["spec"].update(gateways=["robot"]),
        "Istio wiring",
        "gateway 'robot' does not exist",
    ),
    (
        "scaled-cpu",
        "mTLS relaxed to PERMISSIVE",
        lambda o: first(o, "PeerAuthentication")["spec"]["mtls"].update(mode="PERMISSIVE"),
        "Istio wiring",
        "no namespace-wide STRICT mTLS",
    ),
    (
        "scaled",
        "a timeout on the robots' stream route",
        lambda o: first(o, "VirtualService", "objectdetection")["spec"]["http"][0].update(timeout="5s"),
        "Istio timeouts",
        "cuts long-lived robot streams",
    ),
    (
        "scaled",
        "per-try timeout below the aggregator's engine timeout",
        lambda o: first(o, "VirtualService", "objectdetection")["spec"]["http"][1]["retries"].update(
            perTryTimeout="1s"
        ),
        "Istio timeouts",
        "<= ENGINE_TIMEOUT_MS",
    ),
    (
        "scaled",
        "any workload in the namespace may call the YOLO detector",
        lambda o: first(o, "AuthorizationPolicy", "yolodetection")["spec"]["rules"][0]["from"][0]["source"][
            "principals"
        ].append("cluster.local/ns/liquidedge/sa/default"),
        "authorization",
        "lets cluster.local/ns/liquidedge/sa/default reach a detector",
    ),
    (
        "edge-local",
        "the edge pod opens the YOLO port to the mesh",
        lambda o: first(o, "AuthorizationPolicy")["spec"]["rules"][0]["to"][0]["operation"]["ports"].append(
            "50055"
        ),
        "authorization",
        "lets <any caller> reach a detector",
    ),
    # The camera gateway: an HTTP program beside the gRPC ones.
    (
        "scaled",
        "the camera gateway's readiness asks /healthz (never says it drains)",
        lambda o: container(o, "Deployment", "cameragateway", "cameragateway")["readinessProbe"][
            "httpGet"
        ].update(path="/healthz"),
        "probes",
        "readiness must ask /readyz",
    ),
    (
        "edge-local",
        "the camera gateway's HTTP container port named grpc",
        lambda o: container(o, "Deployment", "cameragateway", "cameragateway")["ports"][0].update(
            name="grpc"
        ),
        "gRPC port naming",
        "http container port not named http*",
    ),
    (
        "scaled-cpu",
        "CAMERA_TOKENS_FILE points where the Secret is not mounted",
        lambda o: config(o, "cameragateway").update(CAMERA_TOKENS_FILE="/etc/tokens/camera-tokens"),
        "config refs",
        "CAMERA_TOKENS_FILE=/etc/tokens/camera-tokens is no file of a mounted Secret",
    ),
    (
        "scaled",
        "the camera tokens Secret missing",
        lambda o: o.remove(first(o, "Secret", "cameragateway-tokens")),
        "config refs",
        "Secret 'cameragateway-tokens' is not defined",
    ),
    (
        "edge-local",
        "a timeout on the dashboard's live feeds",
        lambda o: first(o, "VirtualService", "cameragateway")["spec"]["http"][0].update(timeout="30s"),
        "Istio timeouts",
        "a timeout cuts the dashboard's live feed /api/events",
    ),
    (
        "scaled-cpu",
        "the live-feed route removed: the catch-all with its timeout takes /api/events",
        lambda o: first(o, "VirtualService", "cameragateway")["spec"]["http"].pop(0),
        "Istio timeouts",
        "a timeout cuts the dashboard's live feed /api/events",
    ),
    (
        "scaled",
        "the cameras' HTTP entrance routed to the aggregator's gRPC port",
        lambda o: first(o, "VirtualService", "cameragateway")["spec"]["http"][1]["route"][0][
            "destination"
        ].update(host="objectdetection.liquidedge.svc.cluster.local", port={"number": 50051}),
        "Istio wiring",
        "enters as http on port 80, objectdetection.liquidedge.svc.cluster.local:50051 speaks grpc",
    ),
    (
        "scaled-cpu",
        "the face detector's policy selects nothing (label typo)",
        lambda o: first(o, "AuthorizationPolicy", "facedetection")["spec"]["selector"]["matchLabels"].update(
            app="facedetecton"
        ),
        "authorization",
        "with no ALLOW policy",
    ),
    (
        "scaled-cpu-canary",
        "canary weights that do not add up to 100",
        lambda o: split_route(o)[1].update(weight=20),
        "canary wiring",
        "weights add up to 110, not 100",
    ),
    (
        "scaled-cpu-canary",
        "the canary subset's label does not match the canary pods",
        lambda o: named(o, "DestinationRule", "yolodetection-split")["spec"]["subsets"][1].update(
            labels={"version": "canry"}
        ),
        "canary wiring",
        "subset 'canary' ({'version': 'canry'}) selects no pod",
    ),
    (
        "scaled-cpu-canary",
        "a route to a subset no DestinationRule defines",
        lambda o: split_route(o)[1]["destination"].update(subset="v2"),
        "canary wiring",
        "subset 'v2' is in no DestinationRule",
    ),
    (
        "scaled-cpu-canary",
        "the canary pods left on the production channel",
        lambda o: next(e for e in canary_env(o) if e["name"] == "MODEL_CHANNEL").update(value="production"),
        "canary wiring",
        "two subsets follow the same channel",
    ),
    (
        "scaled-cpu-canary",
        "the canary without the model store (components/model-store left out)",
        lambda o: [config(o, "yolodetection").pop(k) for k in ("MODELSTORE_URL", "YOLO_CONVERTED_DIR")],
        "canary wiring",
        "does not serve from one model store channel",
    ),
    (
        "scaled-cpu-canary",
        "conversions written to the image's read-only /models",
        lambda o: config(o, "yolodetection").pop("YOLO_CONVERTED_DIR"),
        "model store",
        "YOLO_CONVERTED_DIR=/models/converted is not on a writable volume",
    ),
    (
        "scaled-cpu-canary",
        "the bucket's credentials not given to the canary pods",
        lambda o: canary_env(o).__setitem__(
            slice(None), [e for e in canary_env(o) if "secretKeyRef" not in e.get("valueFrom", {})]
        ),
        "model store",
        "come from no Secret",
    ),
    (
        "scaled-cpu-canary",
        "the aggregator calls the headless Service by name (one address, no weights)",
        lambda o: config(o, "objectdetection").update(
            YOLODETECTION_ADDR="yolodetection.liquidedge.svc.cluster.local:50055"
        ),
        "aggregator reaches detectors",
        "a headless Service needs dns:///",
    ),
    (
        "scaled-cpu-canary",
        "the weights' VirtualService removed: one connection would pin one pod",
        lambda o: o.remove(named(o, "VirtualService", "yolodetection-split")),
        "aggregator reaches detectors",
        "no VirtualService routes yolodetection-split.liquidedge.svc.cluster.local",
    ),
    (
        "scaled-cpu-canary",
        "a credential read from a key the Secret does not have",
        lambda o: next(e for e in canary_env(o) if e["name"] == "AWS_DEFAULT_REGION")["valueFrom"][
            "secretKeyRef"
        ].update(key="AWS_REGION"),
        "config refs",
        "reads 'AWS_REGION' of Secret 'modelstore-credentials', which lacks it",
    ),
    (
        "scaled-cpu",
        "the operators' identity let past the Gallery to the Detector methods",
        lambda o: first(o, "AuthorizationPolicy", "facerecognition")["spec"]["rules"][1]["to"][0][
            "operation"
        ].pop("paths"),
        "authorization",
        "lets cluster.local/ns/liquidedge/sa/liquidedge-operator reach a detector",
    ),
    (
        "scaled-cpu",
        "the aggregator pointed at a port recognition does not serve",
        lambda o: config(o, "objectdetection").update(
            FACERECOGNITION_ADDR="dns:///facerecognition.liquidedge.svc.cluster.local:50058"
        ),
        "aggregator reaches detectors",
        "Service has no port 50058",
    ),
    (
        "edge-local",
        "the model store mounted read-only in the recognition container",
        lambda o: next(
            m
            for m in container(o, "DaemonSet", "edge-node-cpu", "facerecognition")["volumeMounts"]
            if m["name"] == "modelstore"
        ).update(readOnly=True),
        "model dir",
        "mounted read-only (Gallery publishes there)",
    ),
    (
        "scaled",
        "the model store on a claim only one node can mount",
        lambda o: first(o, "PersistentVolumeClaim", "liquidedge-modelstore")["spec"].update(
            accessModes=["ReadWriteOnce"]
        ),
        "model dir",
        "not a ReadWriteMany claim",
    ),
    # The classifier: the aggregator's refining engine classifier-crops, in the scaled overlays.
    (
        "scaled-cpu",
        "the classifier left in its whole-frame mode while the aggregator sends it crops",
        lambda o: config(o, "classification").update(CLASSIFIER_MODE="frames"),
        "aggregator reaches detectors",
        "serves engine 'classifier', not 'classifier-crops'",
    ),
    (
        "scaled",
        "the aggregator's crops pointed at the recognition Service",
        lambda o: config(o, "objectdetection").update(
            CLASSIFIER_CROPS_ADDR="dns:///facerecognition.liquidedge.svc.cluster.local:50059"
        ),
        "aggregator reaches detectors",
        "Service does not select classification pods",
    ),
    (
        "scaled",
        "the ingress gateway let in to the classifier (only the aggregator may call it)",
        lambda o: first(o, "AuthorizationPolicy", "classification")["spec"]["rules"][0]["from"][0]["source"][
            "principals"
        ].append("cluster.local/ns/istio-system/sa/istio-ingressgateway"),
        "authorization",
        "lets cluster.local/ns/istio-system/sa/istio-ingressgateway reach a detector",
    ),
    (
        "scaled-cpu",
        "the classifier's backbone looked for where the image has none",
        lambda o: config(o, "classification").update(LIQUIDEDGE_MODEL_DIR="/models-volume"),
        "model dir",
        "LIQUIDEDGE_MODEL_DIR='/models-volume' is neither",
    ),
    (
        "scaled-cpu-canary",
        "the classifier's store on a claim only one node can mount",
        lambda o: first(o, "PersistentVolumeClaim", "liquidedge-modelstore")["spec"].update(
            accessModes=["ReadWriteOnce"]
        ),
        "model dir",
        "Deployment/classification/classification: the model store at /var/lib/liquidedge/modelstore is not a claim every pod can mount",
    ),
]


@pytest.mark.parametrize(
    ("overlay", "mutate", "check", "expected"),
    [
        pytest.param(overlay, mutate, check, expected, id=what)
        for overlay, what, mutate, check, expected in BROKEN
    ],
)
def test_a_broken_manifest_is_caught(
    overlay: str, mutate: Callable[[list[Obj]], None], check: str, expected: str
) -> None:
    objects = deploy.render(overlay)
    assert not any(expected in p for p in deploy.CHECKS[check](objects)), "caught before it was broken"
    mutate(objects)
    problems = deploy.CHECKS[check](objects)
    assert any(expected in p for p in problems), problems


def test_every_check_is_shown_to_catch_something() -> None:
    assert {check for _o, _w, _m, check, _e in BROKEN} == set(deploy.CHECKS)


# The same, one level up: a typo in a source file under kube/, rendered again by kustomize.
SOURCE_BREAKS = [
    pytest.param(
        "base/objectdetection-service.yaml",
        "    - name: grpc\n",
        "    - name: http\n",
        "gRPC port naming",
        "named 'http'",
        id="aggregator Service port renamed",
    ),
    pytest.param(
        "overlays/scaled-cpu/facedetection.yaml",
        "  selector:\n    app: facedetection\n",
        "  selector:\n    app: face-detection\n",
        "services select pods",
        "matches no pod template",
        id="detector Service selector typo",
    ),
    pytest.param(
        "overlays/edge-local/node/edge-node.yaml",
        "            - name: grpc-yolo\n              containerPort: 50055\n",
        "            - name: grpc-yolo\n              containerPort: 5055\n",
        "ports match code",
        "listens on 50055",
        id="edge pod YOLO container port typo",
    ),
    pytest.param(
        "base/config/facedetection.env",
        "FACE_INSTANCES=4\n",
        "FACE_INSTANCE=4\n",
        "env known to code",
        "FACE_INSTANCE is not an environment variable",
        id="ConfigMap variable typo",
    ),
    pytest.param(
        "overlays/scaled-cpu/classification.yaml",
        "            - name: grpc\n              containerPort: 50059\n",
        "            - name: grpc\n              containerPort: 5059\n",
        "ports match code",
        "Deployment/classification/classification: listens on 50059",
        id="classifier container port typo",
    ),
]


@pytest.mark.parametrize(("path", "old", "new", "check", "expected"), SOURCE_BREAKS)
def test_a_broken_source_file_is_caught(
    tmp_path: Path, path: str, old: str, new: str, check: str, expected: str
) -> None:
    kube = tmp_path / "kube"
    shutil.copytree(deploy.KUBE, kube)
    source = kube / path
    text = source.read_text()
    assert text.count(old) == 1, f"{path} changed: update this test's text"
    source.write_text(text.replace(old, new))
    overlay = {"base": "scaled-cpu", "overlays/scaled-cpu": "scaled-cpu", "overlays/edge-local": "edge-local"}
    name = next(v for k, v in overlay.items() if path.startswith(k))
    problems = deploy.CHECKS[check](deploy.load(deploy.kustomize(kube / "overlays" / name)))
    assert any(expected in p for p in problems), problems


# Components a user adds in an overlay of their own (the README's procedures), composed here the
# same way in a copy of kube/ and held to the same checks.
COMPOSITIONS = [
    pytest.param("scaled", ["model-volume"], id="scaled+model-volume"),
    pytest.param("edge-local", ["model-store"], id="edge-local+model-store"),
    pytest.param("scaled", ["model-store"], id="scaled+model-store"),
    # a GPU cluster's canary: both Deployments turned into the CUDA one by the gpu component
    pytest.param("scaled-cpu", ["yolo-canary", "model-store", "gpu"], id="scaled-cpu+canary+gpu"),
    pytest.param("edge-local", ["kafka"], id="edge-local+kafka"),
    pytest.param("edge-local", ["model-volume"], id="edge-local+model-volume"),
    pytest.param("scaled-cpu", ["model-volume"], id="scaled-cpu+model-volume"),
]


@pytest.mark.parametrize(("topology", "components"), COMPOSITIONS)
def test_user_overlay_with_components_validates_and_passes_every_check(
    tmp_path: Path, topology: str, components: list[str]
) -> None:
    kube = tmp_path / "kube"
    shutil.copytree(deploy.KUBE, kube)
    mine = kube / "overlays" / "mine"
    mine.mkdir()
    (mine / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "namespace: liquidedge\n"
        f"resources: [../{topology}]\n"
        f"components: [{', '.join('../../components/' + c for c in components)}]\n"
    )
    objects = deploy.load(deploy.kustomize(mine))
    assert deploy.kubernetes_schema_problems(objects) == []
    assert deploy.istio_schema_problems(objects) == []
    assert deploy.all_problems(objects) == []
    if "kafka" in components:
        gateway = [c for _w, c, program in deploy.containers(objects) if program == "cameragateway"]
        assert [deploy.container_env(objects, c)["KAFKA_BOOTSTRAP_SERVERS"] for c in gateway] == [
            "kafka-bootstrap.kafka.svc.cluster.local:9092"
        ]
        return
    yolo = [(w, c) for w, c, program in deploy.containers(objects) if program == "yolodetection"]
    assert yolo, "every topology runs a yolodetection container"
    for workload, container in yolo:
        env = deploy.container_env(objects, container)
        if "model-volume" in components:
            assert (env["LIQUIDEDGE_MODEL_DIR"], env["YOLO_MODEL"]) == ("/models-volume", "yolov3"), (
                deploy.ref(workload)
            )
        else:  # the model store
            assert env["MODELSTORE_URL"].startswith("s3://"), deploy.ref(workload)
    channels = {deploy.container_env(objects, c).get("MODEL_CHANNEL") for _w, c in yolo}
    assert channels == (
        {"production", "canary"}
        if "yolo-canary" in components
        else {"production"}
        if "model-store" in components
        else {None}
    )
    if "gpu" in components:
        assert {c["image"].split(":")[0] for _w, c in yolo} == {"liquidedge/yolodetection-cuda"}
