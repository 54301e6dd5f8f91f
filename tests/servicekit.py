"""Start the real services in this process on loopback port 0, talk to them, wait on them.

A module of its own (not conftest.py): test packages with their own conftest would shadow a
`from conftest import ...`.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from liquidedge.service import ServiceHandle
from liquidedge.v1 import detection_pb2, detection_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def start_face(*extra: str) -> ServiceHandle:
    from facedetection.service import build_parser, start

    return start(build_parser().parse_args(["--port", "0", "--metrics-port", "0", *extra]))


def start_yolo(model_dir: str, *extra: str) -> ServiceHandle:
    from yolodetection.service import build_parser, start

    return start(
        build_parser().parse_args(["--port", "0", "--metrics-port", "0", "--model-dir", model_dir, *extra])
    )


def start_aggregator(face_addr: str, yolo_addr: str, *extra: str) -> ServiceHandle:
    from objectdetection.service import build_parser, start

    args = ["--port", "0", "--metrics-port", "0", "--face-addr", face_addr, "--yolo-addr", yolo_addr]
    return start(build_parser().parse_args([*args, "--health-interval-s", "0.2", *extra]))


# -- talking to a started service, and waiting for it ----------------------------------------


def request(jpeg: bytes, number: int = 7, **fields: object) -> detection_pb2.DetectRequest:
    """A v1 request as a robot sends it (capture time and source filled in, so echoes can be checked)."""
    frame = detection_pb2.Frame(number=number, capture_time_us=123_456_789, jpeg=jpeg, source_id="robot-1")
    return detection_pb2.DetectRequest(frame=frame, **fields)


def detect(port: int, jpeg: bytes, timeout_s: float = 20.0, **fields: object) -> detection_pb2.DetectResponse:
    """One v1 Detect on its own channel; a refusal raises `grpc.RpcError`."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return detection_pb2_grpc.DetectorStub(channel).Detect(request(jpeg, **fields), timeout=timeout_s)


def health(port: int, service: str = "") -> int | None:
    """The health status, or None when the port does not answer (a server that stopped listening)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=2
            )
        except grpc.RpcError:
            return None
    return reply.status


def metrics_text(handle: ServiceHandle) -> str:
    url = f"http://127.0.0.1:{handle.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        return reply.read().decode()


def free_port() -> int:
    """A port nothing listens on now (to start a service on a port known in advance)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def port_taken() -> Iterator[int]:
    """A loopback port another socket listens on while the block runs (a port in use)."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        yield blocker.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on this loopback port."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate: Callable[[], bool], timeout_s: float = 15.0, every_s: float = 0.05) -> bool:
    """Poll until `predicate` holds or time runs out; returns its last answer. Assert on it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return predicate()
