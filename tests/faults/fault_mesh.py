"""The mesh the faults are injected into: one face detector, two YOLO replicas, one aggregator.

Each service is a real OS process started with the production entry point. Where it runs is a
`Placement`: loopback (every process on 127.0.0.1 with its own port) or a host namespace on the
test switch (every process on its own address with the production default port, as pods would
be). Detectors start first and must answer SERVING before the aggregator starts, so the
aggregator's first health probe does not eject a replica that is merely still loading.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faults.fault_netns import Switch
from meshtools.localmesh import ServiceProcess, free_port, wait_serving
from support.calls import metric_sum, scrape

START_TIMEOUT_S = 60.0
YOLO_REPLICAS = ("yolo-a", "yolo-b")
# Health probes every second (the production default), so the ejection figure is the default's.
AGGREGATOR_ARGS = ("--health-interval-s", "1.0", "--max-in-flight", "8")


@dataclass(frozen=True)
class Placement:
    """Where one service runs: a namespace ('' = this one) and the address it binds and is reached on."""

    netns: str
    ip: str
    port: int
    metrics_port: int = -1


@dataclass
class HostedService(ServiceProcess):
    """A ServiceProcess that may run inside a namespace and binds a given address.

    Extends the lead's loopback-only ServiceProcess by composition of its fields: same
    signal/stop/running behaviour, a different command line and address.
    """

    placement: Placement | None = None
    log_path: Path | None = None

    @property
    def address(self) -> str:
        assert self.placement is not None
        return f"{self.placement.ip}:{self.port}"

    def start(self) -> None:
        assert self.placement is not None
        prefix = ["ip", "netns", "exec", self.placement.netns] if self.placement.netns else []
        command = [*prefix, sys.executable, "-m", self.module, "--port", str(self.port), *self.args]
        log_file = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 (kept by Popen)
        try:
            self.process = subprocess.Popen(
                command,
                env={**os.environ, **self.env},
                stdout=log_file or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        finally:
            if log_file is not None:
                log_file.close()


def loopback_placements() -> dict[str, Placement]:
    return {
        name: Placement("", "127.0.0.1", free_port(), free_port())
        for name in ("edge", "face", *YOLO_REPLICAS)
    }


def switch_placements(switch: Switch) -> dict[str, Placement]:
    """One namespace per service, production default ports (each namespace has its own)."""
    ports = {"edge": (50051, 9151), "face": (50053, 9153), "yolo-a": (50055, 9155), "yolo-b": (50055, 9155)}
    placements = {}
    for name, (port, metrics_port) in ports.items():
        host = switch.hosts.get(name) or switch.add_host(name)
        placements[name] = Placement(host.netns, host.ip, port, metrics_port)
    return placements


@dataclass
class FaultMesh:
    """Four processes wired together; `services` is keyed edge/face/yolo-a/yolo-b."""

    model_dir: str
    placements: dict[str, Placement]
    log_dir: Path
    aggregator_args: Sequence[str] = ()
    services: dict[str, HostedService] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def service(name: str, module: str, args: list[str]) -> HostedService:
            where = self.placements[name]
            common = ["--host", where.ip, "--metrics-port", str(where.metrics_port), "--log-format", "text"]
            if where.netns:
                # Plaintext off loopback is refused unless asked for; these links are the test's own.
                common += ["--allow-plaintext", "true"]
            env = {"PYTHONUNBUFFERED": "1", "POD_NAME": name, "POD_IP": where.ip}
            return HostedService(
                name,
                module,
                where.port,
                [*common, *args],
                env,
                placement=where,
                log_path=self.log_dir / f"{name}.log",
            )

        yolo_target = "ipv4:" + ",".join(self.address(name) for name in YOLO_REPLICAS)
        self.services = {
            "face": service("face", "facedetection", []),
            **{
                name: service(name, "yolodetection", ["--model-dir", self.model_dir])
                for name in YOLO_REPLICAS
            },
            "edge": service(
                "edge",
                "objectdetection",
                ["--face-addr", self.address("face"), "--yolo-addr", yolo_target, *self.aggregator_args],
            ),
        }

    def address(self, name: str) -> str:
        where = self.placements[name]
        return f"{where.ip}:{where.port}"

    @property
    def edge(self) -> str:
        return self.address("edge")

    def start(self) -> FaultMesh:
        try:
            for name in ("face", *YOLO_REPLICAS):
                self.services[name].start()
            for name in ("face", *YOLO_REPLICAS):
                self.wait_started(name)
            self.start_aggregator()
        except BaseException:
            self.stop()
            raise
        return self

    def start_aggregator(self) -> float:
        """Start the aggregator and wait until it answers SERVING; return how long that took."""
        started = time.monotonic()
        self.services["edge"].start()
        self.wait_started("edge")
        return time.monotonic() - started

    def wait_started(self, name: str, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait for SERVING, but fail at once, with its log, if the process dies while starting."""
        service = self.services[name]
        deadline = time.monotonic() + timeout_s
        while True:
            if not service.running():
                code = service.process.returncode if service.process else None
                raise RuntimeError(f"{name} exited with {code} while starting:\n{self.log_tail(name)}")
            try:
                wait_serving(service.address, min(1.0, max(0.1, deadline - time.monotonic())))
                return
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"{name} not SERVING in {timeout_s:.0f} s:\n{self.log_tail(name)}"
                    ) from None

    def stop(self) -> None:
        for name in ("edge", *YOLO_REPLICAS, "face"):
            service = self.services[name]
            if service.process is not None and service.process.poll() is None:
                # A frozen process cannot act on SIGTERM until it is thawed.
                service.signal(signal.SIGCONT)
            service.stop(timeout_s=5.0)

    def metric_sum(self, name: str, service: str = "edge", **labels: str) -> float:
        """Sum of one service's samples of a metric whose labels include `labels` (0 when absent)."""
        where = self.placements[service]
        return metric_sum(scrape(where.metrics_port, where.ip), name, **labels)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# What the `mesh_factory` fixture hands a test: extra aggregator flags in, a started mesh out.
MeshFactory = Callable[..., FaultMesh]
