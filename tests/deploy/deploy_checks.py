"""Render the kustomize overlays and check what they say against each other and against the code.

Each `check_*` function takes the rendered objects of one overlay and returns a list of
problems (empty when all is well), so the tests can both assert a clean render and show that a
deliberately broken one is caught. The facts about the programs (flags, environment variables,
default ports) are read from the programs themselves through `programs()`, never copied here.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "kube"
OVERLAYS = ("edge-local", "scaled", "scaled-cpu", "scaled-cpu-canary")
TOOLS = REPO / ".venv" / "tools"
KUBECTL = Path(os.environ.get("KUBECTL", TOOLS / "kubectl"))
ISTIO_NODE_MODULES = TOOLS / "istio" / "node_modules"
ISTIO_VALIDATOR = Path(__file__).resolve().parent / "tools" / "istio_validate.mjs"
KUBERNETES_VERSION = "1.35.0"
IMAGE_REPO = "liquidedge"

# Set by the kubelet from the downward API, read by liquidedge.hostinfo (not flags).
DOWNWARD_ENV = {"POD_NAME": "metadata.name", "POD_IP": "status.podIP"}
WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet")
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NODE_LABEL = "nvidia.com/gpu.present"
GATEWAY_PRINCIPAL = re.compile(
    r"^cluster\.local/ns/istio-[a-z-]+/sa/istio-ingressgateway(-service-account)?$"
)

Obj = dict[str, Any]


# ---- rendering ---------------------------------------------------------------------------------


class ToolMissing(RuntimeError):
    pass


def require_tools() -> None:
    if not KUBECTL.is_file():
        raise ToolMissing(f"{KUBECTL} is missing: run `make deploy-tools` (make test does it)")
    if not (ISTIO_NODE_MODULES / "@kubernetes-models" / "istio").is_dir():
        raise ToolMissing(f"Istio schemas missing from {ISTIO_NODE_MODULES}: run `make deploy-tools`")


def kustomize(directory: Path) -> str:
    """`kubectl kustomize DIR`: the YAML that `kubectl apply -k DIR` would send."""
    require_tools()
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return result.stdout


@functools.cache
def render_text(overlay: str) -> str:
    return kustomize(KUBE / "overlays" / overlay)


def load(text: str) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(overlay: str) -> list[Obj]:
    """A fresh deep copy each call, so a test may mutate what it gets."""
    return copy.deepcopy(load(render_text(overlay)))


# ---- schema validation -------------------------------------------------------------------------


def is_istio(obj: Obj) -> bool:
    return obj["apiVersion"].split("/")[0].endswith(".istio.io")


def kubernetes_schema_problems(objects: list[Obj]) -> list[str]:
    """Every non-Istio object against the Kubernetes schema, strict (unknown fields are errors)."""
    import kubernetes_validate

    problems = []
    for obj in objects:
        if is_istio(obj):
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{ref(obj)}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{ref(obj)}: {error.message}")
    return problems


def istio_schema_problems(objects: list[Obj]) -> list[str]:
    """Every Istio object against the Istio CRD schemas, with unknown fields as errors."""
    istio = [obj for obj in objects if is_istio(obj)]
    if not istio:
        return []
    result = subprocess.run(
        ["node", str(ISTIO_VALIDATOR), str(ISTIO_NODE_MODULES)],
        input=json.dumps(istio),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Istio validator failed:\n{result.stderr}")
    return [
        f"{ref(obj)}: {error}"
        for obj, out in zip(istio, json.loads(result.stdout), strict=True)
        for error in out["errors"]
    ]


# ---- what the code says --------------------------------------------------------------------------


@dataclass(frozen=True)
class Program:
    """One of our programs as its own code describes it."""

    name: str
    grpc_port: int
    metrics_port: int
    env_flags: dict[str, Any]  # env name -> argparse action
    check_args: Callable[..., None]
    build_parser: Callable[[], Any]
    # What `grpc_port` (the program's main port) speaks: "grpc", or "http" (the camera gateway).
    protocol: str = "grpc"


@functools.cache
def programs() -> dict[str, Program]:
    from support.programs import SERVICE_MODULES, service_module

    found = {}
    for name in SERVICE_MODULES:
        module = service_module(name)
        parser = module.build_parser()
        actions = {action.option_strings[0]: action for action in parser._actions if action.option_strings}
        env_flags = {env: actions[flag] for flag, env in parser.env_names.items()}
        found[name] = Program(
            name=name,
            grpc_port=module.DEFAULT_PORT,
            metrics_port=module.DEFAULT_METRICS_PORT,
            env_flags=env_flags,
            check_args=module.check_args,
            build_parser=module.build_parser,
            protocol=getattr(module, "PROTOCOL", "grpc"),
        )
    return found


def project_version() -> str:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


# ---- navigating rendered objects ----------------------------------------------------------------


def ref(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def of_kind(objects: list[Obj], *kinds: str) -> list[Obj]:
    return [obj for obj in objects if obj["kind"] in kinds]


def by_name(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {obj["metadata"]["name"]: obj for obj in of_kind(objects, kind)}


def workloads(objects: list[Obj]) -> list[Obj]:
    return of_kind(objects, *WORKLOAD_KINDS)


def pod_spec(workload: Obj) -> Obj:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: Obj) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"].get("labels", {})


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def program_of(container: Obj) -> str | None:
    """Which of our programs a container runs, from its image: liquidedge/<program>[-cuda]:<tag>."""
    match = re.match(rf"^{IMAGE_REPO}/([a-z]+?)(-cuda)?:", container.get("image", ""))
    return match.group(1) if match and match.group(1) in programs() else None


def containers(objects: list[Obj]) -> Iterator[tuple[Obj, Obj, str]]:
    """(workload, container, program) for every container that runs one of our programs."""
    for workload in workloads(objects):
        for container in pod_spec(workload)["containers"]:
            program = program_of(container)
            if program:
                yield workload, container, program


def container_env(objects: list[Obj], container: Obj) -> dict[str, str]:
    """The environment the container starts with (downward API values stand in as placeholders)."""
    maps = by_name(objects, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source.get("configMapRef", {}).get("name")
        if name in maps:
            env.update({k: str(v) for k, v in maps[name].get("data", {}).items()})
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif "fieldRef" in var.get("valueFrom", {}):
            env[var["name"]] = "10.0.0.7" if var["name"] == "POD_IP" else "pod-0"
    return env


def named_ports(workload: Obj) -> dict[str, int]:
    return {
        port["name"]: port["containerPort"]
        for container in pod_spec(workload)["containers"]
        for port in container.get("ports", [])
        if "name" in port
    }


def all_container_ports(workload: Obj) -> set[int]:
    return {port["containerPort"] for c in pod_spec(workload)["containers"] for port in c.get("ports", [])}


def int_env(env: dict[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except ValueError:
        return -2


def service_fqdn(service: Obj) -> str:
    return (
        f"{service['metadata']['name']}.{service['metadata'].get('namespace', 'default')}.svc.cluster.local"
    )


# ---- cross-reference checks -------------------------------------------------------------------------


def check_services_select_pods(objects: list[Obj]) -> list[str]:
    """Every Service selects a pod template, and every target port exists in each pod it selects."""
    problems = []
    for service in of_kind(objects, "Service"):
        selector = service["spec"].get("selector", {})
        matched = [w for w in workloads(objects) if selects(selector, pod_labels(w))]
        if not matched:
            problems.append(f"{ref(service)}: selector {selector} matches no pod template")
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            for workload in matched:
                known = named_ports(workload) if isinstance(target, str) else all_container_ports(workload)
                if target not in known:
                    problems.append(
                        f"{ref(service)}: targetPort {target!r} is not a container port of {ref(workload)}"
                    )
    return problems


def check_grpc_port_naming(objects: list[Obj]) -> list[str]:
    """gRPC ports named grpc[-suffix] with appProtocol grpc (Istio's protocol selection), names unique."""
    grpc_ports = {p.grpc_port for p in programs().values() if p.protocol == "grpc"}
    problems = []
    for service in of_kind(objects, "Service"):
        for port in service["spec"].get("ports", []):
            if port["port"] in grpc_ports:
                if not re.fullmatch(r"grpc(-[a-z0-9-]+)?", port.get("name", "")):
                    problems.append(
                        f"{ref(service)}: gRPC port {port['port']} is named {port.get('name')!r}, not grpc"
                    )
                if port.get("appProtocol") != "grpc":
                    problems.append(f"{ref(service)}: gRPC port {port['port']} lacks appProtocol: grpc")
    for workload in workloads(objects):
        names = [
            p["name"] for c in pod_spec(workload)["containers"] for p in c.get("ports", []) if "name" in p
        ]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"{ref(workload)}: port names {duplicates} repeat within the pod")
        for workload_, container, program in containers([workload]):
            code = programs()[program]
            main_names = [
                p["name"] for p in container.get("ports", []) if p["containerPort"] == code.grpc_port
            ]
            if not main_names or not main_names[0].startswith(code.protocol):
                problems.append(
                    f"{ref(workload_)}/{container['name']}: {code.protocol} container port not named {code.protocol}*"
                )
    for service in of_kind(objects, "Service"):
        for port in service["spec"].get("ports", []):
            if port.get("appProtocol") == "http" and not re.fullmatch(
                r"http(-[a-z0-9-]+)?", port.get("name", "")
            ):
                problems.append(
                    f"{ref(service)}: HTTP port {port['port']} is named {port.get('name')!r}, not http"
                )
    return problems


def check_ports_match_code(objects: list[Obj]) -> list[str]:
    """Container ports, the PORT/METRICS_PORT it is configured with and the code's defaults agree."""
    problems = []
    for workload, container, program in containers(objects):
        code = programs()[program]
        env = container_env(objects, container)
        where = f"{ref(workload)}/{container['name']}"
        grpc_port = int_env(env, "PORT", code.grpc_port)
        metrics_port = int_env(env, "METRICS_PORT", code.metrics_port)
        declared = {p["containerPort"] for p in container.get("ports", [])}
        if grpc_port != code.grpc_port:
            problems.append(f"{where}: PORT={grpc_port} but {program} defaults to {code.grpc_port}")
        if metrics_port != code.metrics_port:
            problems.append(
                f"{where}: METRICS_PORT={metrics_port} but {program} defaults to {code.metrics_port}"
            )
        for port in (grpc_port, metrics_port):
            if port not in declared:
                problems.append(f"{where}: listens on {port} but declares container ports {sorted(declared)}")
        if env.get("BIND_HOST") not in ("0.0.0.0", "::"):
            problems.append(
                f"{where}: BIND_HOST={env.get('BIND_HOST')!r}: probes and the sidecar need 0.0.0.0"
            )
    return problems


def probe_services(objects: list[Obj]) -> set[tuple[str, str]]:
    """(program, health service name) for every gRPC probe."""
    return {
        (program, container[kind]["grpc"].get("service", ""))
        for _w, container, program in containers(objects)
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
        if "grpc" in container.get(kind, {})
    }


def check_probes(objects: list[Obj], serves: Callable[[str, str], bool] | None = None) -> list[str]:
    """Startup, readiness and liveness on every program, on its gRPC port; with `serves(program,
    name)` (the real programs asked over gRPC), every probed health service name is one it serves."""
    problems = []
    for workload, container, program in containers(objects):
        where = f"{ref(workload)}/{container['name']}"
        grpc_port = int_env(container_env(objects, container), "PORT", programs()[program].grpc_port)
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container.get(kind)
            if probe is None:
                problems.append(f"{where}: no {kind}")
                continue
            handler = probe.get("grpc") or probe.get("tcpSocket") or probe.get("httpGet")
            if handler is None:
                problems.append(f"{where}: {kind} is neither grpc, tcpSocket nor httpGet")
                continue
            if handler.get("port") != grpc_port:
                problems.append(
                    f"{where}: {kind} probes port {handler.get('port')}, the program serves {grpc_port}"
                )
            if "grpc" in probe and serves is not None:
                service = probe["grpc"].get("service", "")
                if not serves(program, service):
                    problems.append(
                        f"{where}: {kind} asks health for {service!r}, which {program} does not serve"
                    )
        if programs()[program].protocol == "http":
            # The HTTP program says it is draining on /readyz; /healthz says only that it runs.
            if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                problems.append(f"{where}: readiness must ask /readyz (503 while draining)")
        elif "grpc" not in container.get("readinessProbe", {}):
            problems.append(f"{where}: readiness must ask grpc.health.v1 (it knows when the model is loaded)")
    return problems


def check_env_is_known_to_code(objects: list[Obj]) -> list[str]:
    """Every variable a container gets is a flag's twin of the program it runs (or downward API)."""
    problems = []
    for workload, container, program in containers(objects):
        flags = programs()[program].env_flags
        for name, value in container_env(objects, container).items():
            where = f"{ref(workload)}/{container['name']}"
            if name in DOWNWARD_ENV:
                continue
            if name not in flags:
                problems.append(f"{where}: {name} is not an environment variable {program} reads")
                continue
            action = flags[name]
            try:
                parsed = action.type(value) if action.type else value
            except (TypeError, ValueError) as error:
                problems.append(f"{where}: {name}={value!r} does not parse: {error}")
                continue
            if action.choices is not None and parsed not in action.choices:
                problems.append(f"{where}: {name}={value!r} is not one of {list(action.choices)}")
        for var in container.get("env", []):
            field = var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if var["name"] in DOWNWARD_ENV and field != DOWNWARD_ENV[var["name"]]:
                problems.append(
                    f"{ref(workload)}/{container['name']}: {var['name']} must come from {DOWNWARD_ENV[var['name']]}"
                )
        missing = set(DOWNWARD_ENV) - {var["name"] for var in container.get("env", [])}
        if missing:
            problems.append(
                f"{ref(workload)}/{container['name']}: {sorted(missing)} not set (the answer names the pod)"
            )
    return problems


def mounted_files(objects: list[Obj], workload: Obj, container: Obj) -> dict[str, str]:
    """Path -> "Secret/name:key" for every file a Secret or ConfigMap volume puts in the container."""
    sources = {"Secret": by_name(objects, "Secret"), "ConfigMap": by_name(objects, "ConfigMap")}
    volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
    files = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        for kind, field, key in (("Secret", "secret", "secretName"), ("ConfigMap", "configMap", "name")):
            if field not in volume:
                continue
            source = sources[kind].get(volume[field].get(key))
            keys = [*source.get("data", {}), *source.get("stringData", {})] if source else []
            for name in keys:
                files[f"{mount['mountPath'].rstrip('/')}/{name}"] = (
                    f"{kind}/{source['metadata']['name']}:{name}"
                )
    return files


def check_config_refs(objects: list[Obj]) -> list[str]:
    """ConfigMaps, Secrets and ServiceAccounts that pods name exist; every `*_FILE` setting is a
    file that a mounted Secret or ConfigMap puts there."""
    maps, accounts = by_name(objects, "ConfigMap"), by_name(objects, "ServiceAccount")
    secrets = by_name(objects, "Secret")
    problems = []
    for workload in workloads(objects):
        for volume in pod_spec(workload).get("volumes", []):
            name = volume.get("secret", {}).get("secretName")
            if name is not None and name not in secrets:
                problems.append(f"{ref(workload)}: Secret {name!r} is not defined")
    for workload in workloads(objects):
        for container in pod_spec(workload)["containers"]:
            for var in container.get("env", []):
                key_ref = var.get("valueFrom", {}).get("secretKeyRef")
                if key_ref is None:
                    continue
                secret = secrets.get(key_ref["name"])
                keys = [*secret.get("data", {}), *secret.get("stringData", {})] if secret else []
                if key_ref["key"] not in keys:
                    problems.append(
                        f"{ref(workload)}/{container['name']}: {var['name']} reads {key_ref['key']!r} of Secret "
                        f"{key_ref['name']!r}, which {'lacks it' if secret else 'is not defined'}"
                    )
    for workload, container, _program in containers(objects):
        files = mounted_files(objects, workload, container)
        for variable, value in container_env(objects, container).items():
            if variable.endswith("_FILE") and value and value not in files:
                problems.append(
                    f"{ref(workload)}/{container['name']}: {variable}={value} is no file of a mounted Secret or ConfigMap"
                )
    for workload in workloads(objects):
        spec = pod_spec(workload)
        if spec.get("serviceAccountName") not in accounts:
            problems.append(
                f"{ref(workload)}: service account {spec.get('serviceAccountName')!r} is not defined"
            )
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                name = source.get("configMapRef", {}).get("name")
                if name not in maps:
                    problems.append(f"{ref(workload)}/{container['name']}: ConfigMap {name!r} is not defined")
    return problems


def check_pod_hardening(objects: list[Obj]) -> list[str]:
    """Non-root, read-only root with a writable /tmp, no privilege, requests and limits, no service links."""
    problems = []
    for workload in workloads(objects):
        spec = pod_spec(workload)
        where = ref(workload)
        if spec.get("enableServiceLinks") is not False:
            problems.append(f"{where}: enableServiceLinks must be false (YOLODETECTION_PORT would collide)")
        if spec.get("securityContext", {}).get("runAsNonRoot") is not True:
            problems.append(f"{where}: runAsNonRoot is not set")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: mounts a service account token it does not need")
        tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for container in spec["containers"]:
            cwhere = f"{where}/{container['name']}"
            context = container.get("securityContext", {})
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{cwhere}: root filesystem is writable")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{cwhere}: allowPrivilegeEscalation is not false")
            if context.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{cwhere}: capabilities are not all dropped")
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            if mounts.get("/tmp") not in tmp_volumes:
                problems.append(f"{cwhere}: /tmp is not a writable emptyDir")
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(bound, {}):
                        problems.append(f"{cwhere}: no {resource} {bound[:-1]}")
    return problems


def check_shutdown_fits_grace(objects: list[Obj]) -> list[str]:
    """The pod's grace period outlasts the program's drain (SHUTDOWN_GRACE_S) and the sidecar's."""
    problems = []
    for workload, container, _program in containers(objects):
        grace = pod_spec(workload).get("terminationGracePeriodSeconds", 30)
        drain = float(container_env(objects, container).get("SHUTDOWN_GRACE_S", "5"))
        if grace < drain + 5:
            problems.append(
                f"{ref(workload)}: terminationGracePeriodSeconds {grace} < SHUTDOWN_GRACE_S {drain} + 5"
            )
    return problems


def check_prometheus_annotations(objects: list[Obj]) -> list[str]:
    problems = []
    for workload in workloads(objects):
        notes = workload["spec"]["template"]["metadata"].get("annotations", {})
        where = ref(workload)
        if notes.get("prometheus.io/scrape") != "true":
            problems.append(f"{where}: no prometheus.io/scrape annotation")
            continue
        metrics_ports = set()
        for _w, container, program in containers([workload]):
            metrics_ports.add(
                int_env(container_env(objects, container), "METRICS_PORT", programs()[program].metrics_port)
            )
        if (
            not notes.get("prometheus.io/port", "").isdigit()
            or int(notes["prometheus.io/port"]) not in metrics_ports
        ):
            problems.append(
                f"{where}: prometheus.io/port {notes.get('prometheus.io/port')!r} is not a metrics port {sorted(metrics_ports)}"
            )
        if notes.get("prometheus.io/path") != "/metrics":
            problems.append(f"{where}: prometheus.io/path is not /metrics")
    return problems


# The aggregator's engine addresses and the program that must serve each.
ENGINE_PROGRAMS = {
    "FACEDETECTION_ADDR": "facedetection",
    "YOLODETECTION_ADDR": "yolodetection",
    "FACERECOGNITION_ADDR": "facerecognition",
    "CLASSIFIER_ADDR": "classification",
    "CLASSIFIER_CROPS_ADDR": "classification",
}
# Engines an aggregator may leave off ('' turns them off).
OPTIONAL_ENGINES = {"FACERECOGNITION_ADDR", "CLASSIFIER_ADDR", "CLASSIFIER_CROPS_ADDR"}


def engine_names() -> dict[str, str]:
    """The aggregator's engine variables and the engine each names, from its own ENGINE_BACKENDS."""
    from objectdetection.service import ENGINE_BACKENDS

    return {engine.env: engine.name for engine in ENGINE_BACKENDS}


def served_engine(objects: list[Obj], container: Obj, program: str) -> str | None:
    """The engine a container answers as, for a program that serves one of several by a mode (the
    classifier: CLASSIFIER_MODE, read through the code's own MODES); None for the others."""
    if program != "classification":
        return None
    from classification.service import MODES

    default = programs()[program].env_flags["CLASSIFIER_MODE"].default
    mode = container_env(objects, container).get("CLASSIFIER_MODE", default)
    return MODES.get(mode, f"<no engine for mode {mode!r}>")


def engine_mismatches(
    objects: list[Obj], where: str, variable: str, detector: str, pods: list[Obj]
) -> list[str]:
    """The containers of `detector` in `pods` that answer as another engine than `variable` names."""
    wanted = engine_names()[variable]
    problems = []
    for workload, container, program in containers(pods):
        served = served_engine(objects, container, program)
        if program == detector and served is not None and served != wanted:
            problems.append(
                f"{where}: {ref(workload)}/{container['name']} serves engine {served!r}, not {wanted!r}"
            )
    return problems


def check_aggregator_reaches_detectors(objects: list[Obj]) -> list[str]:
    """FACEDETECTION_ADDR / YOLODETECTION_ADDR / FACERECOGNITION_ADDR / CLASSIFIER_ADDR /
    CLASSIFIER_CROPS_ADDR point at something that serves that engine (recognition and the
    classifier may be off: ''), a classifier in the mode of the engine the variable names."""
    problems = []
    services = by_name(objects, "Service")
    for workload, container, program in containers(objects):
        if program != "objectdetection":
            continue
        env = container_env(objects, container)
        for variable, detector in ENGINE_PROGRAMS.items():
            target = env.get(variable, str(programs()[program].env_flags[variable].default))
            if not target and variable in OPTIONAL_ENGINES:
                continue
            where = f"{ref(workload)}: {variable}={target}"
            port = programs()[detector].grpc_port
            if match := re.fullmatch(r"(localhost|127\.0\.0\.1):(\d+)", target):
                peers = [program_of(c) for c in pod_spec(workload)["containers"]]
                if int(match.group(2)) != port or detector not in peers:
                    problems.append(f"{where}: no {detector} container on that port in the same pod")
                problems += engine_mismatches(objects, where, variable, detector, [workload])
            elif match := re.fullmatch(
                r"dns:///([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)", target
            ):
                service = services.get(match.group(1))
                if service is None or service["metadata"].get("namespace") != match.group(2):
                    problems.append(f"{where}: no such Service")
                    continue
                if service["spec"].get("clusterIP") != "None":
                    problems.append(f"{where}: Service is not headless, round_robin would see one address")
                if int(match.group(3)) not in {p["port"] for p in service["spec"]["ports"]}:
                    problems.append(f"{where}: Service has no port {match.group(3)}")
                backing = [
                    w for w in workloads(objects) if selects(service["spec"]["selector"], pod_labels(w))
                ]
                if not any(program_of(c) == detector for w in backing for c in pod_spec(w)["containers"]):
                    problems.append(f"{where}: Service does not select {detector} pods")
                problems += engine_mismatches(objects, where, variable, detector, backing)
            elif match := re.fullmatch(r"([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)", target):
                problems += routed_target_problems(objects, where, detector, match.groups())
                backing = [
                    w
                    for w in workloads(objects)
                    if match.group(1) in services
                    and selects(services[match.group(1)]["spec"]["selector"], pod_labels(w))
                ]
                problems += engine_mismatches(objects, where, variable, detector, backing)
            else:
                problems.append(
                    f"{where}: neither localhost, dns:///<svc>.<ns>.svc.cluster.local nor a routed <svc>.<ns>.svc.cluster.local"
                )
    return problems


def routed_target_problems(
    objects: list[Obj], where: str, detector: str, parts: tuple[str, ...]
) -> list[str]:
    """A plain `<svc>.<ns>.svc.cluster.local:<port>` target: one virtual IP that the aggregator's
    sidecar balances call by call, so a VirtualService must route that host (without one, the
    aggregator's single connection would pin a single pod)."""
    name, namespace, port = parts
    service = by_name(objects, "Service").get(name)
    if service is None or service["metadata"].get("namespace") != namespace:
        return [f"{where}: no such Service"]
    problems = []
    if service["spec"].get("clusterIP") == "None":
        problems.append(f"{where}: a headless Service needs dns:/// (every pod address), not one name")
    if int(port) not in {p["port"] for p in service["spec"]["ports"]}:
        problems.append(f"{where}: Service has no port {port}")
    backing = [w for w in workloads(objects) if selects(service["spec"]["selector"], pod_labels(w))]
    if not any(program_of(c) == detector for w in backing for c in pod_spec(w)["containers"]):
        problems.append(f"{where}: Service does not select {detector} pods")
    if not any(
        service_fqdn(service) in vs["spec"].get("hosts", []) for vs in of_kind(objects, "VirtualService")
    ):
        problems.append(
            f"{where}: no VirtualService routes {service_fqdn(service)}: one connection would pin one pod"
        )
    return problems


def check_scaling_objects(objects: list[Obj]) -> list[str]:
    """HPAs scale workloads that exist (and that leave replicas to them); PDBs select pods."""
    problems = []
    names = {(w["kind"], w["metadata"]["name"]): w for w in workloads(objects)}
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        workload = names.get((target["kind"], target["name"]))
        if workload is None:
            problems.append(f"{ref(hpa)}: scales {target['kind']}/{target['name']}, which does not exist")
        elif "replicas" in workload["spec"]:
            problems.append(f"{ref(hpa)}: {ref(workload)} sets replicas, which fights the autoscaler")
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"].get("matchLabels", {})
        if not any(selects(selector, pod_labels(w)) for w in workloads(objects)):
            problems.append(f"{ref(pdb)}: selector {selector} matches no pod template")
    return problems


def check_workload_selectors(objects: list[Obj]) -> list[str]:
    """Each workload's selector matches its own template, and no two workloads claim the same pods."""
    problems = []
    all_workloads = workloads(objects)
    for workload in all_workloads:
        selector = workload["spec"]["selector"].get("matchLabels", {})
        if not selects(selector, pod_labels(workload)):
            problems.append(f"{ref(workload)}: selector {selector} does not match its own pod labels")
        for other in all_workloads:
            if other is not workload and selects(selector, pod_labels(other)):
                problems.append(f"{ref(workload)}: selector {selector} also matches {ref(other)}'s pods")
    return problems


def gpu_limit(container: Obj) -> int:
    return int(container.get("resources", {}).get("limits", {}).get(GPU_RESOURCE, 0))


def requires_gpu_node(spec: Obj) -> bool:
    terms = (
        spec.get("affinity", {})
        .get("nodeAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution", {})
    )
    return (
        any(
            expr["key"] == GPU_NODE_LABEL and expr["operator"] == "In" and "true" in expr.get("values", [])
            for term in terms.get("nodeSelectorTerms", [])
            for expr in term.get("matchExpressions", [])
        )
        or spec.get("nodeSelector", {}).get(GPU_NODE_LABEL) == "true"
    )


def check_gpu_placement(objects: list[Obj]) -> list[str]:
    """CUDA image <=> a GPU limit <=> GPU-node affinity and the GPU toleration; CUDA runs torch."""
    problems = []
    for workload in workloads(objects):
        spec = pod_spec(workload)
        for container in spec["containers"]:
            where = f"{ref(workload)}/{container['name']}"
            cuda = container.get("image", "").split(":")[0].endswith("-cuda")
            gpus = gpu_limit(container)
            if cuda != (gpus > 0):
                problems.append(f"{where}: CUDA image {cuda} but {GPU_RESOURCE} limit {gpus}")
            if gpus and not requires_gpu_node(spec):
                problems.append(f"{where}: asks for a GPU but may land on any node")
            if gpus and not any(t.get("key") == GPU_RESOURCE for t in spec.get("tolerations", [])):
                problems.append(f"{where}: asks for a GPU but does not tolerate the {GPU_RESOURCE} taint")
            if cuda and container_env(objects, container).get("YOLO_BACKEND") != "torch":
                problems.append(f"{where}: CUDA image without YOLO_BACKEND=torch")
    return problems


@functools.cache
def buildable_images() -> frozenset[str]:
    """The images `make images` builds, as `make images-list` names them."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "images-list"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return frozenset(line.split()[0] for line in result.stdout.splitlines() if line.strip())


# Where the YOLO and classifier images hold YOLOv3-tiny (test_deploy_docker checks the Dockerfile).
BAKED_MODEL_DIR = "/models"
# Programs that read Darknet files from LIQUIDEDGE_MODEL_DIR: YOLO its model, the classifier its backbone.
DARKNET_PROGRAMS = ("yolodetection", "classification")
# Programs whose model store is always on, shared by all their pods, and whether they write to it.
STORE_SHARERS = {"facerecognition": True, "classification": False}


def check_model_dir(objects: list[Obj]) -> list[str]:
    """YOLO and the classifier look for their Darknet files where the image baked them or where a
    volume is mounted; the recognition service's model store is S3 or a volume it can write (the
    Gallery service publishes there) that every recognising pod shares (a ReadWriteMany claim);
    the classifier's is S3 or a claim every pod can read (it only reads: read-only is fine)."""
    problems = []
    claims = by_name(objects, "PersistentVolumeClaim")
    for workload, container, program in containers(objects):
        env = container_env(objects, container)
        if program in STORE_SHARERS:
            problems += shared_store_problems(workload, container, env, claims, writes=STORE_SHARERS[program])
        if program not in DARKNET_PROGRAMS:
            continue
        model_dir = env.get("LIQUIDEDGE_MODEL_DIR", "")
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        volumes = {v["name"] for v in pod_spec(workload).get("volumes", [])}
        if model_dir != BAKED_MODEL_DIR and mounts.get(model_dir) not in volumes:
            problems.append(
                f"{ref(workload)}/{container['name']}: LIQUIDEDGE_MODEL_DIR={model_dir!r} is neither the baked {BAKED_MODEL_DIR} nor a mounted volume"
            )
    return problems


def shared_store_problems(
    workload: Obj, container: Obj, env: dict[str, str], claims: dict[str, Obj], *, writes: bool = True
) -> list[str]:
    """A model store on a volume that every pod of the program shares; `writes`: the program
    publishes there (recognition's Gallery), so the mount must be writable and the claim
    ReadWriteMany; a reader (the classifier) may mount it read-only, ReadOnlyMany will do."""
    where = f"{ref(workload)}/{container['name']}"
    store = env.get("MODELSTORE_URL", "")
    if store.startswith("s3://"):
        return []
    mounts = [m for m in container.get("volumeMounts", []) if store and store.startswith(m["mountPath"])]
    volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
    if not mounts:
        return [f"{where}: MODELSTORE_URL={store!r} is neither s3:// nor on a mounted volume"]
    mount = mounts[0]
    claim = volumes.get(mount["name"], {}).get("persistentVolumeClaim", {}).get("claimName")
    problems = []
    modes = set(claims[claim]["spec"].get("accessModes", [])) if claim in claims else set()
    if writes and mount.get("readOnly"):
        problems.append(f"{where}: the model store at {store} is mounted read-only (Gallery publishes there)")
    if writes and "ReadWriteMany" not in modes:
        problems.append(f"{where}: the model store at {store} is not a ReadWriteMany claim every pod shares")
    if not writes and not modes & {"ReadWriteMany", "ReadOnlyMany"}:
        problems.append(
            f"{where}: the model store at {store} is not a claim every pod can mount (ReadWriteMany or ReadOnlyMany)"
        )
    return problems


def check_images(objects: list[Obj], buildable: frozenset[str] | None = None) -> list[str]:
    """Every image is one `make images` builds (so tagged with the project version)."""
    buildable = buildable_images() if buildable is None else buildable
    problems = []
    for workload in workloads(objects):
        for container in pod_spec(workload)["containers"]:
            image = container.get("image", "")
            if image not in buildable:
                problems.append(
                    f"{ref(workload)}/{container['name']}: image {image} is not built by `make images`"
                )
    return problems


# ---- Istio cross-references --------------------------------------------------------------------------


def duration_s(text: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    match = re.fullmatch(r"([0-9.]+)(ms|s|m|h)", text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return float(match.group(1)) * units[match.group(2)]


def check_istio_wiring(objects: list[Obj]) -> list[str]:
    """Injection, mTLS STRICT, gateway -> virtual service -> Service -> port, destination rules."""
    problems = []
    services = {service_fqdn(s): s for s in of_kind(objects, "Service")}
    gateways = by_name(objects, "Gateway")
    namespaces = of_kind(objects, "Namespace")
    if not namespaces or any(
        ns["metadata"].get("labels", {}).get("istio-injection") != "enabled" for ns in namespaces
    ):
        problems.append("Namespace: sidecar injection is not enabled (label istio-injection=enabled)")
    peer = of_kind(objects, "PeerAuthentication")
    if not any(
        p["spec"].get("mtls", {}).get("mode") == "STRICT" and not p["spec"].get("selector") for p in peer
    ):
        problems.append("PeerAuthentication: no namespace-wide STRICT mTLS")
    if not gateways:
        problems.append("Gateway: none for the robots")
    gateway_ports = {
        s["port"]["number"]: s["port"]["protocol"] for g in gateways.values() for s in g["spec"]["servers"]
    }
    for number, protocol in gateway_ports.items():
        if protocol not in ("GRPC", "HTTP"):
            problems.append(f"Gateway port {number}: protocol {protocol}, robots speak GRPC, cameras HTTP")
    for vs in of_kind(objects, "VirtualService"):
        for gateway in vs["spec"].get("gateways", []):
            if gateway not in gateways:
                problems.append(f"{ref(vs)}: gateway {gateway!r} does not exist")
        for route in vs["spec"].get("http", []):
            for match in route.get("match", []):
                if "port" in match and match["port"] not in gateway_ports:
                    problems.append(
                        f"{ref(vs)}/{route.get('name')}: matches port {match['port']}, no Gateway server has it"
                    )
            for destination in route.get("route", []):
                host = destination["destination"]["host"]
                port = destination["destination"].get("port", {}).get("number")
                service = services.get(host)
                if service is None:
                    problems.append(f"{ref(vs)}: destination {host} is not a Service here")
                elif port not in {p["port"] for p in service["spec"]["ports"]}:
                    problems.append(f"{ref(vs)}: {host} has no port {port}")
                else:
                    spoken = destination_protocol(services, destination)
                    for match in route.get("match", []):
                        entered = gateway_ports.get(match.get("port"), "").lower()
                        if entered and spoken and entered != spoken:
                            problems.append(
                                f"{ref(vs)}/{route.get('name')}: enters as {entered} on port {match['port']}, "
                                f"{host}:{port} speaks {spoken}"
                            )
    for dr in of_kind(objects, "DestinationRule"):
        policy = dr["spec"].get("trafficPolicy", {})
        if dr["spec"]["host"] not in services:
            problems.append(f"{ref(dr)}: host {dr['spec']['host']} is not a Service here")
        if policy.get("loadBalancer", {}).get("localityLbSetting", {}).get("enabled") and not policy.get(
            "outlierDetection"
        ):
            problems.append(f"{ref(dr)}: locality load balancing does nothing without outlierDetection")
    return problems


def destination_protocol(services: dict[str, Obj], destination: Obj) -> str:
    """The appProtocol of the Service port a route's destination names ('' when unknown)."""
    service = services.get(destination["destination"]["host"])
    number = destination["destination"].get("port", {}).get("number")
    ports = [p for p in (service or {}).get("spec", {}).get("ports", []) if p["port"] == number]
    return ports[0].get("appProtocol", "") if ports else ""


def route_matches(route: Obj, path: str) -> bool:
    """Whether an HTTP route's matches take `path` (exact, prefix, regex; no match = everything)."""
    matches = route.get("match") or [{}]
    for match in matches:
        uri = match.get("uri")
        if uri is None:
            return True
        if "exact" in uri and path == uri["exact"]:
            return True
        if "prefix" in uri and path.startswith(uri["prefix"]):
            return True
        if "regex" in uri and re.fullmatch(uri["regex"], path):
            return True
    return False


def live_paths() -> tuple[str, ...]:
    """Paths of the HTTP program whose responses never end (read from the program itself)."""
    from cameragateway.web import LIVE_PATHS

    return LIVE_PATHS


def check_istio_timeouts(objects: list[Obj]) -> list[str]:
    """Unary routes: retries on UNAVAILABLE, a per-try timeout above the aggregator's engine timeout.
    The stream route: no timeout (it would cut a robot's stream). HTTP routes: the route that
    takes a never-ending response (the dashboard's live feeds) has no timeout, the others one."""
    problems = []
    services = {service_fqdn(s): s for s in of_kind(objects, "Service")}
    for vs in of_kind(objects, "VirtualService"):
        http_routes = [
            r
            for r in vs["spec"].get("http", [])
            if any(destination_protocol(services, d) == "http" for d in r.get("route", []))
        ]
        for path in live_paths() if http_routes else ():
            taking = next((r for r in vs["spec"].get("http", []) if route_matches(r, path)), None)
            if taking in http_routes and duration_s(taking.get("timeout", "0s")) != 0:
                problems.append(
                    f"{ref(vs)}/{taking.get('name')}: a timeout cuts the dashboard's live feed {path}"
                )
        for route in http_routes:
            if "timeout" not in route:
                problems.append(f"{ref(vs)}/{route.get('name')}: no per-route timeout")
    engine_timeout_s = None
    for _w, container, program in containers(objects):
        if program == "objectdetection":
            default = programs()[program].env_flags["ENGINE_TIMEOUT_MS"].default
            engine_timeout_s = int(container_env(objects, container).get("ENGINE_TIMEOUT_MS", default)) / 1000
    for vs in of_kind(objects, "VirtualService"):
        for route in vs["spec"].get("http", []):
            if any(destination_protocol(services, d) == "http" for d in route.get("route", [])):
                continue  # held to the HTTP rules above
            where = f"{ref(vs)}/{route.get('name')}"
            streams = any(
                m.get("uri", {}).get("exact", "").endswith("Stream") for m in route.get("match", [])
            )
            if streams:
                if duration_s(route.get("timeout", "0s")) != 0:
                    problems.append(f"{where}: a timeout on the stream route cuts long-lived robot streams")
                continue
            retries = route.get("retries", {})
            if "unavailable" not in retries.get("retryOn", "").split(","):
                problems.append(f"{where}: does not retry on unavailable")
            if "timeout" not in route:
                problems.append(f"{where}: no per-route timeout")
            per_try = duration_s(retries.get("perTryTimeout", route.get("timeout", "0s")))
            if engine_timeout_s is not None and per_try <= engine_timeout_s:
                problems.append(
                    f"{where}: per-try timeout {per_try}s <= ENGINE_TIMEOUT_MS {engine_timeout_s}s"
                )
    return problems


# Programs the aggregator calls that nobody else may (the recognition service's Gallery aside).
DETECTOR_PROGRAMS = ("facedetection", "yolodetection", "facerecognition", "classification")
# Of those, the ones not even the ingress gateway may call (only the aggregator sends them work).
AGGREGATOR_ONLY_PROGRAMS = ("classification",)
GALLERY_PATHS = "/liquidedge.v1.Gallery/"
OPERATOR_PRINCIPAL = "cluster.local/ns/liquidedge/sa/liquidedge-operator"


def gallery_only(rule: Obj) -> bool:
    """A rule that lets its callers reach the Gallery methods and nothing else, and names them."""
    operations = [t.get("operation", {}) for t in rule.get("to", [])]
    principals = {p for f in rule.get("from", []) for p in f.get("source", {}).get("principals", [])}
    return (
        bool(operations)
        and all(
            o.get("paths") and all(path.startswith(GALLERY_PATHS) for path in o["paths"]) for o in operations
        )
        and principals == {OPERATOR_PRINCIPAL}
    )


def check_authorization(objects: list[Obj]) -> list[str]:
    """Detector (and recognition) ports are reachable only from the aggregator's and the
    gateway's identities, the classifier's from the aggregator's alone; the recognition
    service's Gallery only from the operators'."""
    problems = []
    accounts = by_name(objects, "ServiceAccount")
    policies = of_kind(objects, "AuthorizationPolicy")
    detector_ports = {str(programs()[d].grpc_port) for d in DETECTOR_PROGRAMS}
    aggregator_only_ports = {str(programs()[d].grpc_port) for d in AGGREGATOR_ONLY_PROGRAMS}
    aggregator_accounts = {
        f"cluster.local/ns/{w['metadata'].get('namespace')}/sa/{pod_spec(w).get('serviceAccountName')}"
        for w, _c, program in containers(objects)
        if program == "objectdetection"
    }
    for workload in workloads(objects):
        labels = pod_labels(workload)
        hosts_detector = {program_of(c) for c in pod_spec(workload)["containers"]} & set(DETECTOR_PROGRAMS)
        applying = [
            p for p in policies if selects(p["spec"].get("selector", {}).get("matchLabels", {}), labels)
        ]
        if hosts_detector and not any(p["spec"].get("action", "ALLOW") == "ALLOW" for p in applying):
            problems.append(
                f"{ref(workload)}: runs {sorted(hosts_detector)} with no ALLOW policy (open to the mesh)"
            )
        for policy in applying:
            for rule in policy["spec"].get("rules", []):
                ports = {p for t in rule.get("to", []) for p in t.get("operation", {}).get("ports", [])}
                principals = {
                    p for f in rule.get("from", []) for p in f.get("source", {}).get("principals", [])
                }
                for port in ports:
                    if int(port) not in all_container_ports(workload):
                        problems.append(
                            f"{ref(policy)}: port {port} is not a container port of {ref(workload)}"
                        )
                reached = ports or {str(port) for port in all_container_ports(workload)}
                gateway_allowed = not reached & aggregator_only_ports
                if (not ports or ports & detector_ports) and not gallery_only(rule):
                    for principal in sorted(principals) or ["<any caller>"]:
                        if principal not in aggregator_accounts and not (
                            gateway_allowed and GATEWAY_PRINCIPAL.match(principal)
                        ):
                            problems.append(
                                f"{ref(policy)}: lets {principal} reach a detector on {ref(workload)}"
                            )
                for principal in principals:
                    if (
                        principal.startswith("cluster.local/ns/liquidedge/sa/")
                        and principal.rsplit("/", 1)[1] not in accounts
                    ):
                        problems.append(f"{ref(policy)}: principal {principal} names no ServiceAccount")
    for policy in policies:
        selector = policy["spec"].get("selector", {}).get("matchLabels", {})
        if not any(selects(selector, pod_labels(w)) for w in workloads(objects)):
            problems.append(f"{ref(policy)}: selector {selector} matches no pod template")
    return problems


def writable_dirs(workload: Obj, container: Obj) -> list[str]:
    """Mount paths of the container's emptyDir volumes (the only writable places: the root is read-only)."""
    empty = {v["name"] for v in pod_spec(workload).get("volumes", []) if "emptyDir" in v}
    return [m["mountPath"].rstrip("/") for m in container.get("volumeMounts", []) if m["name"] in empty]


def secret_env(container: Obj) -> set[str]:
    """Variables the container takes from Secrets (one key each, or a whole Secret)."""
    names = {var["name"] for var in container.get("env", []) if "secretKeyRef" in var.get("valueFrom", {})}
    return names | {f"<{s['secretRef']['name']}>" for s in container.get("envFrom", []) if "secretRef" in s}


def check_model_store(objects: list[Obj]) -> list[str]:
    """A program serving from a model store writes its verified versions (and YOLO its conversions)
    to a writable volume, and a bucket's credentials come from a Secret."""
    problems = []
    for workload, container, program in containers(objects):
        flags = programs()[program].env_flags
        if "MODELSTORE_URL" not in flags:
            continue
        env = container_env(objects, container)
        url = env.get("MODELSTORE_URL", str(flags["MODELSTORE_URL"].default))
        if not url:
            continue
        where = f"{ref(workload)}/{container['name']}"
        writable = writable_dirs(workload, container)
        places = {"MODELSTORE_CACHE_DIR": env.get("MODELSTORE_CACHE_DIR", "var/modelcache")}
        if program == "yolodetection":
            places["YOLO_CONVERTED_DIR"] = (
                env.get("YOLO_CONVERTED_DIR") or f"{env.get('LIQUIDEDGE_MODEL_DIR', 'models')}/converted"
            )
        for variable, path in places.items():
            if not any(path == d or path.startswith(d + "/") for d in writable):
                problems.append(f"{where}: {variable}={path} is not on a writable volume ({writable})")
        if url.startswith("s3://"):
            missing = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} - secret_env(container)
            if missing and not any(name.startswith("<") for name in secret_env(container)):
                problems.append(f"{where}: MODELSTORE_URL={url} but {sorted(missing)} come from no Secret")
        elif not any(
            url == d or url.startswith(d + "/")
            for d in (m["mountPath"].rstrip("/") for m in container.get("volumeMounts", []))
        ):
            problems.append(f"{where}: MODELSTORE_URL={url} is a directory on no mounted volume")
    return problems


def subset_workloads(objects: list[Obj], host: str, subset: str) -> tuple[list[Obj], str]:
    """The workloads a route's destination subset sends to, or why there are none."""
    services = {service_fqdn(s): s for s in of_kind(objects, "Service")}
    service = services.get(host)
    if service is None:
        return [], f"{host} is not a Service"
    rules = [dr for dr in of_kind(objects, "DestinationRule") if dr["spec"]["host"] == host]
    subsets = {s["name"]: s.get("labels", {}) for dr in rules for s in dr["spec"].get("subsets", [])}
    if subset not in subsets:
        return [], f"subset {subset!r} is in no DestinationRule of {host} (it has {sorted(subsets)})"
    labels = {**service["spec"].get("selector", {}), **subsets[subset]}
    matched = [w for w in workloads(objects) if selects(labels, pod_labels(w))]
    return matched, "" if matched else f"subset {subset!r} ({subsets[subset]}) selects no pod of {host}"


def check_canary(objects: list[Obj]) -> list[str]:
    """Weighted routes: weights sum to 100; every subset is defined for the host and selects pods,
    no pod in two subsets; versions of a model side by side follow one store and model name on
    channels of their own (the canary is a channel, not a copy of production)."""
    problems = []
    for vs in of_kind(objects, "VirtualService"):
        for route in vs["spec"].get("http", []):
            destinations = route.get("route", [])
            where = f"{ref(vs)}/{route.get('name')}"
            if len(destinations) > 1 or any("weight" in d for d in destinations):
                total = sum(d.get("weight", 0) for d in destinations)
                if total != 100:
                    problems.append(f"{where}: weights add up to {total}, not 100")
            chosen: dict[str, list[Obj]] = {}
            for destination in destinations:
                subset = destination["destination"].get("subset")
                if subset is None:
                    continue
                matched, why = subset_workloads(objects, destination["destination"]["host"], subset)
                if why:
                    problems.append(f"{where}: {why}")
                chosen[subset] = matched
            problems += _side_by_side_problems(objects, where, chosen)
    return problems


def _side_by_side_problems(objects: list[Obj], where: str, chosen: dict[str, list[Obj]]) -> list[str]:
    problems = []
    owner: dict[str, str] = {}
    for subset, matched in chosen.items():
        for workload in matched:
            if ref(workload) in owner:
                problems.append(
                    f"{where}: {ref(workload)} is in subsets {owner[ref(workload)]!r} and {subset!r}"
                )
            owner[ref(workload)] = subset
    stores: dict[str, set[tuple[str, str, str]]] = {}
    for subset, matched in chosen.items():
        for _workload, container, _program in containers(matched):
            env = container_env(objects, container)
            stores.setdefault(subset, set()).add(
                (
                    env.get("MODELSTORE_URL", ""),
                    env.get("MODEL_NAME", ""),
                    env.get("MODEL_CHANNEL", "production"),
                )
            )
    if len(stores) < 2:
        return problems
    for subset, found in stores.items():
        if len(found) != 1 or not next(iter(found))[0]:
            problems.append(
                f"{where}: subset {subset!r} does not serve from one model store channel: {sorted(found)}"
            )
    served = {subset: next(iter(found)) for subset, found in stores.items() if len(found) == 1}
    if len({(url, name) for url, name, _channel in served.values()}) > 1:
        problems.append(f"{where}: the subsets serve different stores or models: {served}")
    channels = [channel for _url, _name, channel in served.values()]
    if len(set(channels)) < len(channels):
        problems.append(
            f"{where}: two subsets follow the same channel {channels}: they serve the same version"
        )
    return problems


CHECKS: dict[str, Callable[[list[Obj]], list[str]]] = {
    "services select pods": check_services_select_pods,
    "workload selectors": check_workload_selectors,
    "gRPC port naming": check_grpc_port_naming,
    "ports match code": check_ports_match_code,
    "probes": check_probes,
    "env known to code": check_env_is_known_to_code,
    "config refs": check_config_refs,
    "pod hardening": check_pod_hardening,
    "shutdown fits grace": check_shutdown_fits_grace,
    "prometheus annotations": check_prometheus_annotations,
    "aggregator reaches detectors": check_aggregator_reaches_detectors,
    "scaling objects": check_scaling_objects,
    "GPU placement": check_gpu_placement,
    "images": check_images,
    "model dir": check_model_dir,
    "Istio wiring": check_istio_wiring,
    "Istio timeouts": check_istio_timeouts,
    "authorization": check_authorization,
    "model store": check_model_store,
    "canary wiring": check_canary,
}


def all_problems(objects: list[Obj]) -> list[str]:
    return [problem for check in CHECKS.values() for problem in check(objects)]
