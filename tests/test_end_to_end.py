"""The mesh as three OS processes, the way `make run` starts it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from meshtools.localmesh import LocalMesh, free_port


def detect(address: str, jpeg: bytes, timeout: float = 20) -> detection_pb2.DetectResponse:
    with grpc.insecure_channel(address) as channel:
        stub = detection_pb2_grpc.DetectorStub(channel)
        return stub.Detect(detection_pb2.DetectRequest(frame=detection_pb2.Frame(jpeg=jpeg)), timeout=timeout)


@pytest.fixture(scope="module")
def mesh(model_dir: str):
    with LocalMesh(model_dir) as running:
        yield running


def test_three_processes_answer_through_the_aggregator(mesh: LocalMesh, astronaut_jpeg: bytes) -> None:
    reply = detect(mesh.address, astronaut_jpeg)
    assert [d.label for d in reply.detections if d.engine == "face"] == ["face"]
    assert {e.engine for e in reply.engines if e.ok} == {"face", "yolo"}


def test_sigterm_drains_in_flight_frames_then_exits_cleanly(model_dir: str, astronaut_jpeg: bytes) -> None:
    with LocalMesh(model_dir, extra_args={"yolo": ["--shutdown-grace-s", "10"]}) as mesh:
        yolo = mesh.services["yolo"]
        with ThreadPoolExecutor(6) as pool:
            calls = [pool.submit(detect, yolo.address, astronaut_jpeg) for _ in range(6)]
            time.sleep(0.05)  # let them reach the server
            yolo.signal(signal.SIGTERM)
            replies = [call.result() for call in calls]
        assert all(r.engines[0].ok for r in replies)  # nothing in flight was dropped
        assert yolo.process is not None and yolo.process.wait(15) == 0
        with pytest.raises(grpc.RpcError) as error:
            detect(yolo.address, astronaut_jpeg, timeout=2)
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        # The aggregator keeps answering with the face engine alone.
        partial = detect(mesh.address, astronaut_jpeg)
        assert {e.engine: e.ok for e in partial.engines} == {"face": True, "yolo": False}


DEMO_ARGS = ("--view-port", "-1", "--frames", "10", "--fps", "0")


def test_make_run_demo_drives_the_mesh_with_real_frames(model_dir: str) -> None:
    for _ in range(20):  # the demo uses base, base+2 and base+4
        base = free_port()
        if base < 65000 and all(free_port_is(base + k) for k in (2, 4)):
            break
    result = subprocess.run(
        [sys.executable, "-m", "meshtools.demo", "--model-dir", model_dir, "--port", str(base), *DEMO_ARGS],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("frame")]
    assert len(lines) == 10
    assert any("astronaut" in line and "face 0.9" in line for line in lines)
    assert "same work in-process" in result.stdout


def free_port_is(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
