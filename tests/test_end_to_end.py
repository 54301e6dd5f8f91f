"""The mesh as three OS processes, the way `make run` starts it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from meshtools.localmesh import LocalMesh, free_port
from support.calls import detect, metric_sum, scrape
from support.waiting import wait_for


@pytest.fixture(scope="module")
def mesh(model_dir: str):
    with LocalMesh(model_dir) as running:
        yield running


def test_three_processes_answer_through_the_aggregator(mesh: LocalMesh, astronaut_jpeg: bytes) -> None:
    reply = detect(mesh.address, astronaut_jpeg)
    assert [d.label for d in reply.detections if d.engine == "face"] == ["face"]
    assert {e.engine for e in reply.engines if e.ok} == {"face", "yolo"}


def test_sigterm_drains_in_flight_frames_then_exits_cleanly(model_dir: str, astronaut_jpeg: bytes) -> None:
    # YOLO's batcher holds a batch open 800 ms for company, so all six frames are inside YOLO,
    # seen on its metrics, when SIGTERM arrives: the drain has real work to finish.
    metrics_port = free_port()
    hold = ["--max-batch", "8", "--max-queue-delay-ms", "800", "--metrics-port", str(metrics_port)]
    with LocalMesh(model_dir, extra_args={"yolo": ["--shutdown-grace-s", "10", *hold]}) as mesh:
        yolo = mesh.services["yolo"]

        def in_flight() -> float:
            return metric_sum(scrape("127.0.0.1", metrics_port), "liquidedge_frames_in_flight")

        with ThreadPoolExecutor(6) as pool:
            calls = [pool.submit(detect, yolo.address, astronaut_jpeg) for _ in range(6)]
            wait_for(lambda: in_flight() == 6, timeout_s=20, what="six frames in flight in YOLO")
            yolo.signal(signal.SIGTERM)
            replies = [call.result() for call in calls]
        assert [(r.engines[0].engine, r.engines[0].ok) for r in replies] == [("yolo", True)] * 6
        assert yolo.process is not None and yolo.process.wait(15) == 0
        with pytest.raises(grpc.RpcError) as error:
            detect(yolo.address, astronaut_jpeg, timeout_s=2)
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
