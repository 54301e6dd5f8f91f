"""The mesh as OS processes, the way `make run` starts it (face, YOLO, recognition, aggregator)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from facerecognition.model_files import photo_dir
from meshtools.localmesh import LocalMesh
from meshtools.samples import photo_frames
from support.calls import detect, wait_metric
from support.kafka_topics import TopicReader
from support.ports import bindable, free_port
from support.waiting import wait_for

REPO = Path(__file__).resolve().parent.parent


def make(target: str, store: Path, model_dir: str, *variables: str) -> None:
    """`make TARGET` as a user runs it, on a model store (and cache) of the test's own."""
    env = {**os.environ, "MODELSTORE_CACHE_DIR": str(store.parent / "cli-cache")}
    command = [
        "make",
        "-C",
        str(REPO),
        target,
        f"MODELSTORE_URL={store}",
        f"MODEL_DIR={model_dir}",
        *variables,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, model_dir: str) -> Path:
    path = tmp_path_factory.mktemp("e2e") / "store"
    make("gallery-default", path, model_dir)
    return path


@pytest.fixture(scope="module")
def mesh(model_dir: str, store: Path):
    with LocalMesh(model_dir, model_store=str(store), model_cache_dir=str(store.parent / "cache")) as running:
        yield running


def test_four_processes_answer_through_the_aggregator(mesh: LocalMesh, astronaut_jpeg: bytes) -> None:
    reply = detect(mesh.address, astronaut_jpeg)
    faces = [d for d in reply.detections if d.engine == "face"]
    assert [(d.label, d.attributes["identity"]) for d in faces] == [("face", "unknown")]  # a stranger
    assert {e.engine for e in reply.engines if e.ok} == {"face", "yolo", "recognition"}


def identity_of(address: str, jpeg: bytes) -> tuple[str, str]:
    reply = detect(address, jpeg, timeout_s=30)
    (face,) = [d for d in reply.detections if d.engine == "face"]
    return face.attributes["identity"], face.attributes["gallery_version"]


def test_make_enroll_is_picked_up_by_the_running_mesh(
    mesh: LocalMesh, model_dir: str, store: Path, tmp_path: Path
) -> None:
    obama2 = next(f for f in photo_frames(photo_dir(model_dir)) if f.name == "obama2").jpeg
    before, version = identity_of(mesh.address, obama2)
    assert before == "obama"
    # A new folder: Obama enrolled as "barack" from his other photo; the folder replaces the gallery.
    folder = tmp_path / "faces"
    folder.mkdir()
    (folder / "barack.jpg").write_bytes((photo_dir(model_dir) / "obama.jpg").read_bytes())
    subprocess.run(
        [
            "make",
            "-C",
            str(REPO),
            "enroll",
            f"FACES={folder}",
            f"MODELSTORE_URL={store}",
            f"MODEL_DIR={model_dir}",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # No restart: the recognition service sees the channel move and names him anew.
    renamed = wait_for(
        lambda: (answer := identity_of(mesh.address, obama2))[0] == "barack" and answer,
        timeout_s=15,
        what="the new gallery in the running mesh",
    )
    assert renamed[1] != version


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


def test_make_run_demo_drives_the_mesh_with_real_frames(model_dir: str, tmp_path: Path) -> None:
    """What `make run` starts: every service, YOLO, the face cascade and the gallery from the store, the cameras."""
    store = tmp_path / "store"  # its own: the module's store is changed by `make enroll`
    make("gallery-default", store, model_dir)
    make("yolo-default", store, model_dir)
    make("face-default", store, model_dir)
    for _ in range(20):  # the demo uses base, base+2, base+4 and base+6
        base = free_port()
        if base < 65000 and all(bindable(base + k) for k in (2, 4, 6)):
            break
    gateway = free_port()
    gallery = [
        *("--model-store", str(store), "--model-cache-dir", str(store.parent / "demo-cache")),
        *("--gateway-port", str(gateway)),
    ]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshtools.demo",
            "--model-dir",
            model_dir,
            "--port",
            str(base),
            *gallery,
            *DEMO_ARGS,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("frame")]
    assert len(lines) == 10
    assert any("astronaut" in line and "face 0.9" in line and "(unknown" in line for line in lines)
    # The photos of the default gallery's people come back named.
    assert any("obama2" in line and "(obama 0." in line for line in lines)
    assert any(" biden " in line and "(biden 0." in line for line in lines)
    # YOLO answered from the store's version, and the camera side came up (its /readyz answered).
    assert any(" camera " in line and "person 0." in line for line in lines)
    models = f"the face gallery, YOLO and the face cascade are served from the model store {store}"
    assert models in result.stdout
    assert f"Dashboard:        http://127.0.0.1:{gateway}/" in result.stdout
    assert "same work in-process" in result.stdout


def demo_ports() -> int:
    """A base port whose +2, +4 and +6 are free too (the demo's fixed layout)."""
    for _ in range(20):
        base = free_port()
        if base < 65000 and all(bindable(base + k) for k in (2, 4, 6)):
            return base
    raise RuntimeError("no free block of demo ports")


class Printed:
    """A running program's stdout lines, gathered by a thread as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=lambda: self.lines.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
        self._thread.start()

    def first(self, words: str) -> str | None:
        return next((line for line in list(self.lines) if words in line), None)


def test_make_run_kafka_publishes_the_cameras_answers(model_dir: str, tmp_path: Path) -> None:
    """`make run KAFKA=1`: a local broker beside the mesh, every camera answer an event on it."""
    kafka_port, gateway = free_port(), free_port()
    command = [
        *(sys.executable, "-m", "meshtools.demo", "--model-dir", str(Path(model_dir).resolve())),
        *("--port", str(demo_ports()), "--model-store", "", "--view-port", "-1", "--fps", "1"),
        *("--gateway-port", str(gateway), "--kafka", "true", "--kafka-port", str(kafka_port)),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "demo.log"  # its services' logs, read back when something fails
    with log.open("w") as stderr:
        demo = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    printed = Printed(demo)
    try:
        kafka_line = wait_for(lambda: printed.first("Kafka:"), 120, "the demo's Kafka line")
        assert f"127.0.0.1:{kafka_port}, events on topic liquidedge.events" in kafka_line
        reader = TopicReader(f"127.0.0.1:{kafka_port}", "liquidedge.events")
        try:
            wait_for(
                lambda: sorted(set(key for key, _ in reader.read(0.5))),
                60,
                "events from both emulated cameras",
                until=lambda keys: {"lobby", "yard"} <= set(keys),
            )
            lobby = reader.by_key()["lobby"]
            assert all(event["source"] == "lobby" for event in lobby)
            assert any(d["label"] == "face" for event in lobby for d in event["detections"])  # the astronaut
        finally:
            reader.close()
    finally:
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0, log.read_text()[-3000:]
