"""The mesh as three OS processes, the way `make run` starts it."""

from __future__ import annotations

import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from meshtools.localmesh import LocalMesh
from support.calls import detect, wait_metric
from support.ports import bindable, free_port


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
        with ThreadPoolExecutor(6) as pool:
            calls = [pool.submit(detect, yolo.address, astronaut_jpeg) for _ in range(6)]
            wait_metric(metrics_port, "liquidedge_frames_in_flight", 6, timeout_s=20)
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
        if base < 65000 and all(bindable(base + k) for k in (2, 4)):
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
