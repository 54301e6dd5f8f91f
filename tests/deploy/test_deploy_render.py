"""Every overlay renders with the real `kubectl kustomize` and every object validates strictly.

Kubernetes kinds against the Kubernetes 1.35 schema (kubernetes-validate, strict: unknown
fields fail); Istio kinds against Istio's CRD schemas (@kubernetes-models/istio, with unknown
fields failing too). The tools are installed by `make deploy-tools` (a prerequisite of `make test`).
"""

from __future__ import annotations

from collections import Counter

import deploy_checks as deploy
import pytest
import yaml

pytestmark = pytest.mark.usefixtures("deploy_tools")


# What each topology is made of (kind -> count). A change here is a change of the deployment.
EXPECTED_KINDS = {
    "edge-local": {
        "Namespace": 1,
        "ServiceAccount": 7,  # one per program (the classifier's unused here), and the operators'
        "ConfigMap": 8,  # common + one per program + the CUDA YOLO settings
        "Secret": 2,  # the camera gateway's tokens, the recognition operators' tokens
        "PersistentVolumeClaim": 1,  # the model store the recognising pods share (face gallery)
        "Service": 2,  # the aggregator and the camera gateway; the detectors are on localhost
        "Deployment": 1,  # the camera gateway (no classifier at the edge: kustomization.yaml says why)
        "DaemonSet": 2,  # CPU nodes and GPU nodes
        "PodDisruptionBudget": 1,
        "Gateway": 2,  # robots (gRPC), cameras (HTTP)
        "VirtualService": 2,
        "DestinationRule": 1,
        "PeerAuthentication": 1,
        "AuthorizationPolicy": 1,
    },
    "scaled": {
        "Namespace": 1,
        "ServiceAccount": 7,
        "ConfigMap": 8,
        "Secret": 2,
        "PersistentVolumeClaim": 1,
        "Service": 6,  # the aggregator, the camera gateway, the headless detector, recognition and classifier Services
        "Deployment": 6,
        "HorizontalPodAutoscaler": 4,  # the detectors, recognition and the classifier
        "PodDisruptionBudget": 5,
        "Gateway": 2,
        "VirtualService": 2,
        "DestinationRule": 1,
        "PeerAuthentication": 1,
        "AuthorizationPolicy": 4,  # one per detector, one for recognition, one for the classifier
    },
    "scaled-cpu": {
        "Namespace": 1,
        "ServiceAccount": 7,
        "ConfigMap": 7,
        "Secret": 2,
        "PersistentVolumeClaim": 1,
        "Service": 6,
        "Deployment": 6,
        "HorizontalPodAutoscaler": 4,
        "PodDisruptionBudget": 5,
        "Gateway": 2,
        "VirtualService": 2,
        "DestinationRule": 1,
        "PeerAuthentication": 1,
        "AuthorizationPolicy": 4,
    },
    "scaled-cpu-canary": {  # scaled-cpu plus the model store and the canary
        "Namespace": 1,
        "ServiceAccount": 7,
        "ConfigMap": 7,
        "Secret": 3,  # + the model store's credentials
        "PersistentVolumeClaim": 1,
        "Service": 7,  # + yolodetection-split, the one the weights route
        "Deployment": 7,  # + yolodetection-canary
        "HorizontalPodAutoscaler": 4,
        "PodDisruptionBudget": 5,
        "Gateway": 2,
        "VirtualService": 3,  # + the weights
        "DestinationRule": 2,  # + the subsets
        "PeerAuthentication": 1,
        "AuthorizationPolicy": 5,  # + the canary pods' callers
    },
}


def test_every_overlay_has_an_expectation() -> None:
    overlays = {path.name for path in (deploy.KUBE / "overlays").iterdir() if path.is_dir()}
    assert overlays == set(deploy.OVERLAYS) == set(EXPECTED_KINDS)


@pytest.mark.parametrize("overlay", deploy.OVERLAYS)
def test_overlay_renders_the_expected_objects(overlay: str) -> None:
    objects = deploy.render(overlay)
    assert dict(Counter(obj["kind"] for obj in objects)) == EXPECTED_KINDS[overlay]
    assert {obj["metadata"].get("namespace") for obj in objects if obj["kind"] != "Namespace"} == {
        "liquidedge"
    }
    names = [(obj["kind"], obj["metadata"]["name"]) for obj in objects]
    assert len(names) == len(set(names)), "two objects share a kind and name"


@pytest.mark.parametrize("overlay", deploy.OVERLAYS)
def test_kubernetes_objects_validate_strictly(overlay: str) -> None:
    assert deploy.kubernetes_schema_problems(deploy.render(overlay)) == []


@pytest.mark.parametrize("overlay", deploy.OVERLAYS)
def test_istio_objects_validate_strictly(overlay: str) -> None:
    objects = deploy.render(overlay)
    assert any(deploy.is_istio(obj) for obj in objects)
    assert deploy.istio_schema_problems(objects) == []


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        # A misspelt field in a Deployment's container: strict mode refuses unknown fields.
        ({"imagePullPolicyy": "Always"}, "Additional properties are not allowed"),
        # A wrong type where Kubernetes wants an integer.
        ({"ports": [{"name": "grpc", "containerPort": "50051"}]}, "is not of type 'integer'"),
    ],
)
def test_kubernetes_validation_catches_a_broken_container(broken: dict[str, object], expected: str) -> None:
    objects = deploy.render("scaled-cpu")
    deployment = deploy.by_name(objects, "Deployment")["objectdetection"]
    deploy.pod_spec(deployment)["containers"][0].update(broken)
    problems = deploy.kubernetes_schema_problems(objects)
    assert len(problems) == 1 and "Deployment/objectdetection" in problems[0] and expected in problems[0]


@pytest.mark.parametrize(
    ("kind", "mutate", "expected"),
    [
        # A misspelt field (Istio's CRDs would let the API server drop it silently).
        ("Gateway", lambda spec: spec.update(selectr=spec.pop("selector")), 'unknown field "selectr"'),
        # A port number written as a string.
        ("Gateway", lambda spec: spec["servers"][0]["port"].update(number="50051"), "type"),
        # A retry policy with a misspelt key, deep in a route.
        (
            "VirtualService",
            lambda spec: spec["http"][1]["retries"].update(retryon="5xx"),
            'unknown field "retryon"',
        ),
        # An enum value Istio does not know.
        ("PeerAuthentication", lambda spec: spec["mtls"].update(mode="STRIKT"), "enum"),
        (
            "DestinationRule",
            lambda spec: spec["trafficPolicy"]["loadBalancer"].update(simple="NEAREST"),
            "enum",
        ),
    ],
)
def test_istio_validation_catches_a_broken_object(kind: str, mutate, expected: str) -> None:
    objects = deploy.render("scaled")
    target = deploy.of_kind(objects, kind)[0]
    mutate(target["spec"])
    problems = deploy.istio_schema_problems(objects)
    assert problems and all(deploy.ref(target) in p for p in problems), problems
    assert any(expected in p for p in problems), problems


def test_ingress_gateway_values_open_the_port_the_gateway_serves() -> None:
    """kube/istio-ingressgateway-values.yaml (for Istio's gateway Helm chart) and the Gateway agree."""
    values = yaml.safe_load((deploy.KUBE / "istio-ingressgateway-values.yaml").read_text())
    for overlay in deploy.OVERLAYS:
        for gateway in deploy.of_kind(deploy.render(overlay), "Gateway"):
            assert deploy.selects(gateway["spec"]["selector"], values["labels"])
            for server in gateway["spec"]["servers"]:
                number = server["port"]["number"]
                opened = [p for p in values["service"]["ports"] if p["port"] == number]
                prefix = server["port"]["protocol"].lower()  # grpc-robots, http-cameras
                assert opened and opened[0]["targetPort"] == number and opened[0]["name"].startswith(prefix)
