"""The whole mesh as local processes, the way `make run` and the end-to-end tests use it:
face, YOLO and the aggregator, and the recognition service when a model store holds its gallery.

Each service runs as its own OS process (as on a laptop or in three containers), started with
the same console entry points as production and waited on through grpc.health.v1, so
"started" means "answers SERVING", not "process exists".
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from modelstore.fetch import DEFAULT_CACHE

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_serving(address: str, timeout_s: float, service: str = "") -> None:
    """Block until `address` answers SERVING for `service`; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.RpcError as error:
                last = error.code().name
            time.sleep(0.1)
    raise TimeoutError(f"{address} did not become SERVING within {timeout_s:.0f}s (last: {last})")


@dataclass
class ServiceProcess:
    name: str
    module: str
    port: int
    args: list[str]
    env: Mapping[str, str]
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", self.module, "--port", str(self.port), *self.args]
        self.process = subprocess.Popen(command, env={**os.environ, **self.env})
        log.info("started %s (pid %d) on %s", self.name, self.process.pid, self.address)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.running():
            assert self.process is not None
            self.process.send_signal(signum)

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM (graceful drain), then SIGKILL if it does not exit in time."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_service(name: str, module: str, args: Sequence[str], timeout_s: float = 120.0) -> ServiceProcess:
    """One service process on a free loopback port, started and SERVING (e.g. an unbatched YOLO
    beside the mesh's batched one); stopped again if it does not come up."""
    service = ServiceProcess(
        name,
        module,
        free_port(),
        [
            "--host",
            "127.0.0.1",
            "--metrics-port",
            "-1",
            "--log-format",
            "text",
            "--log-level",
            "WARNING",
            *args,
        ],
        {"PYTHONUNBUFFERED": "1"},
    )
    service.start()
    try:
        wait_serving(service.address, timeout_s)
    except BaseException:
        service.stop()
        raise
    return service


def start_process(
    stack: contextlib.ExitStack, command: list[str], *, stdout: IO[str] | None = None
) -> subprocess.Popen:
    """A helper process (not a gRPC service: a camera emulator, the ingest, the trainer), stopped
    when `stack` closes: SIGTERM, then SIGKILL if it has not exited within 10 s."""
    process = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=stdout)

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    stack.callback(stop)
    return process


@dataclass
class LocalMesh:
    """Face, YOLO and aggregator processes on loopback (and recognition, given `model_store`).

    `model_store`: the model store (a directory or s3://...) whose `face-gallery` channel the
    recognition service serves (and YOLO's and the face cascade's channels, with `yolo_from_store`
    and `face_from_store`); None leaves
    recognition out. Use as a context manager.
    """

    model_dir: str
    aggregator_port: int = 0
    face_port: int = 0
    yolo_port: int = 0
    view_port: int = -1
    log_format: str = "text"
    extra_args: Mapping[str, list[str]] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    model_store: str | None = None
    model_cache_dir: str = DEFAULT_CACHE
    recognition_port: int = 0
    # Serve YOLO from the store's `yolov3-tiny` channel too (hot reload), not from `model_dir`.
    yolo_from_store: bool = False
    # Serve the face cascade from the store's `face-cascade` channel (hot reload), not OpenCV's file.
    face_from_store: bool = False

    def __post_init__(self) -> None:
        face_port = self.face_port or free_port()
        yolo_port = self.yolo_port or free_port()
        agg_port = self.aggregator_port or free_port()
        common = ["--host", "127.0.0.1", "--metrics-port", "0", "--log-format", self.log_format]
        env = {"PYTHONUNBUFFERED": "1"}
        recognition: list[str] = []
        yolo: list[str] = []
        if self.yolo_from_store:
            if self.model_store is None:
                raise ValueError("yolo_from_store needs a model_store")
            yolo = ["--model-store", self.model_store, "--model-cache-dir", self.model_cache_dir]
        face: list[str] = []
        if self.face_from_store:
            if self.model_store is None:
                raise ValueError("face_from_store needs a model_store")
            face = ["--model-store", self.model_store, "--model-cache-dir", self.model_cache_dir]
        if self.model_store is not None:
            port = self.recognition_port or free_port()
            store = ["--model-store", self.model_store, "--model-cache-dir", self.model_cache_dir]
            self.services["recognition"] = ServiceProcess(
                "facerecognition",
                "facerecognition",
                port,
                [*common, "--model-dir", self.model_dir, *store],
                env,
            )
            recognition = ["--recognition-addr", f"127.0.0.1:{port}"]
        self.services = {
            **self.services,
            "face": ServiceProcess("facedetection", "facedetection", face_port, [*common, *face], env),
            "yolo": ServiceProcess(
                "yolodetection",
                "yolodetection",
                yolo_port,
                [*common, "--model-dir", self.model_dir, *yolo],
                env,
            ),
            "aggregator": ServiceProcess(
                "objectdetection",
                "objectdetection",
                agg_port,
                [
                    *common,
                    "--face-addr",
                    f"127.0.0.1:{face_port}",
                    "--yolo-addr",
                    f"127.0.0.1:{yolo_port}",
                    *recognition,
                    "--view-port",
                    str(self.view_port),
                ],
                env,
            ),
        }
        for name, extra in self.extra_args.items():
            self.services[name].args.extend(extra)

    @property
    def address(self) -> str:
        return self.services["aggregator"].address

    def start(self, timeout_s: float = 60.0) -> LocalMesh:
        try:
            for service in self.services.values():
                service.start()
            for service in self.services.values():
                wait_serving(service.address, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self, name: str, timeout_s: float = 60.0) -> None:
        service = self.services[name]
        service.stop()
        service.start()
        wait_serving(service.address, timeout_s)

    def stop(self) -> None:
        for name in ("aggregator", "recognition", "yolo", "face"):
            if name in self.services:
                self.services[name].stop()

    def __enter__(self) -> LocalMesh:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
