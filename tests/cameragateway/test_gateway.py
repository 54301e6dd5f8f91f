"""The gateway with the real mesh (face, YOLO, aggregator on loopback) and emulated cameras."""

from __future__ import annotations

import http.client
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from gateway_kit import (
    CAMERA_TOKEN,
    OPERATOR_TOKEN,
    WAIT_S,
    call,
    camera_state,
    register,
    start_gateway,
    state,
    token_files,
)

from cameragateway.service import GatewayHandle
from liquidedge.service import ServiceHandle
from meshtools.camera_emulator import CameraEmulator
from support.ports import free_port
from support.waiting import wait_for

FAST = [
    "--stall-timeout-s",
    "1",
    "--connect-timeout-s",
    "1",
    "--reconnect-max-s",
    "1",
    "--offline-after-s",
    "3",
]


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return token_files(tmp_path_factory.mktemp("tokens"))


@pytest.fixture(scope="module")
def gateway(aggregator_service: ServiceHandle, tokens: tuple[Path, Path]) -> Iterator[GatewayHandle]:
    cameras, operator = tokens
    handle = start_gateway(
        aggregator_service.port,
        "--camera-tokens-file",
        str(cameras),
        "--operator-token-file",
        str(operator),
        "--max-fps",
        "4",
        *FAST,
    )
    yield handle
    handle.stop(0)


@pytest.fixture
def emulators(jpegs: list[bytes]) -> Iterator[dict[str, CameraEmulator]]:
    started: dict[str, CameraEmulator] = {}

    def make(name: str, mode: str = "good", fps: float = 5.0) -> CameraEmulator:
        started[name] = CameraEmulator(jpegs, fps=fps, mode=mode).start()
        return started[name]

    yield make  # type: ignore[misc]
    for emulator in started.values():
        emulator.stop()


def nowhere() -> str:
    """A loopback address nothing listens on: cameras that never answer (tests dial loopback only)."""
    return f"127.0.0.1:{free_port()}"


def base(gateway: GatewayHandle) -> str:
    return f"http://127.0.0.1:{gateway.port}"


def answered(gateway: GatewayHandle, camera_id: str) -> int:
    found = camera_state(gateway, camera_id)
    return 0 if found is None else found["answered"]


def remove_all(gateway: GatewayHandle) -> None:
    for camera_id in gateway.fleet.ids():
        gateway.fleet.remove(camera_id)


# -- registration ---------------------------------------------------------------------------------


def test_registration_follows_the_field_convention(
    gateway: GatewayHandle, emulators, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = emulators("a"), emulators("b")
    with caplog.at_level(logging.WARNING, logger="cameragateway.web"):
        code, body = register(gateway, ip=first.address, token="not-the-token")
    assert code == 403 and "wrong camera token" in body["error"]
    assert any("wrong token" in r.getMessage() for r in caplog.records)
    assert camera_state(gateway, first.address) is None

    code, body = register(gateway, ip=first.address, token=CAMERA_TOKEN)
    assert code == 200
    assert body == {"id": first.address, "stream_url": f"http://{first.address}/stream", "result": "added"}
    # Idempotent: the same camera again changes nothing (its stream is not restarted).
    assert register(gateway, ip=first.address, token=CAMERA_TOKEN)[1]["result"] == "unchanged"
    wait_for(lambda: answered(gateway, first.address) >= 2, WAIT_S, "answers for the registered camera")

    # A camera with an id that comes back at a new address replaces its address.
    assert register(gateway, ip=first.address, id="door", token="second-camera-token")[1]["result"] == "added"
    code, body = register(gateway, ip=second.address, id="door", token=CAMERA_TOKEN)
    assert (code, body["result"], body["stream_url"]) == (200, "updated", f"http://{second.address}/stream")
    assert camera_state(gateway, "door")["url"] == f"http://{second.address}/stream"
    wait_for(lambda: answered(gateway, "door") >= 2, WAIT_S, "answers from the new address")

    assert register(gateway, ip="127.0.0.1:0", token=CAMERA_TOKEN)[0] == 400
    assert register(gateway, token=CAMERA_TOKEN)[0] == 400
    remove_all(gateway)


def test_without_a_tokens_file_nobody_registers(aggregator_service: ServiceHandle, emulators) -> None:
    handle = start_gateway(aggregator_service.port)
    try:
        code, body = register(handle, ip=emulators("a").address, token="anything")
        assert code == 403 and "CAMERA_TOKENS_FILE" in body["error"]
        code, body = call("POST", base(handle) + "/api/cameras", body={"ip": nowhere()}, token="x")
        assert code == 403 and "OPERATOR_TOKEN_FILE" in body["error"]
    finally:
        handle.stop(0)


def test_cameras_file_is_pulled_from_the_start(
    aggregator_service: ServiceHandle, emulators, tmp_path: Path
) -> None:
    camera = emulators("listed")
    listed = tmp_path / "cameras.txt"
    listed.write_text(f"# our cameras\nlobby {camera.address}\n")
    handle = start_gateway(aggregator_service.port, "--cameras-file", str(listed))
    try:
        wait_for(lambda: answered(handle, "lobby") >= 2, WAIT_S, "answers for the listed camera")
        assert camera_state(handle, "lobby")["origin"] == "config"
    finally:
        handle.stop(0)


def test_operator_adds_and_removes_cameras(gateway: GatewayHandle, emulators) -> None:
    camera = emulators("op")
    url = base(gateway) + "/api/cameras"
    assert call("POST", url, body={"id": "op", "ip": camera.address})[0] == 401
    assert call("POST", url, body={"id": "op", "ip": camera.address}, token=CAMERA_TOKEN)[0] == 401
    assert call("POST", url, body={"id": "op"}, token=OPERATOR_TOKEN)[0] == 400
    code, body = call(
        "POST", url, body={"id": "op", "url": f"http://{camera.address}/stream"}, token=OPERATOR_TOKEN
    )
    assert (code, body["result"]) == (200, "added")
    wait_for(lambda: answered(gateway, "op") >= 1, WAIT_S, "answers for the added camera")
    assert call("DELETE", url + "/op")[0] == 401
    assert call("DELETE", url + "/op", token=OPERATOR_TOKEN) == (200, {"id": "op", "result": "removed"})
    assert camera_state(gateway, "op") is None
    assert call("DELETE", url + "/op", token=OPERATOR_TOKEN)[0] == 404


def test_a_refused_request_leaves_a_kept_alive_connection_usable(gateway: GatewayHandle) -> None:
    """The body of a refused request is consumed, so it is not read as the next request."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    body = json.dumps({"id": "x", "ip": nowhere()})
    try:
        for token, expected in (("wrong", 401), (OPERATOR_TOKEN, 200)):
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            connection.request("POST", "/api/cameras", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == expected
    finally:
        connection.close()
        gateway.fleet.remove("x")


# -- what the dashboard reads -------------------------------------------------------------------------


def read_events(port: int, wanted: int, kind: str = "answer") -> list[dict]:
    """The first `wanted` server-sent events of `kind`, read as a browser's EventSource would."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/api/events")
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
    events: list[dict] = []
    name, data = "", ""
    try:
        while len(events) < wanted:
            line = response.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                if name == kind:
                    events.append(json.loads(data))
                name, data = "", ""
    finally:
        connection.close()
    return events


def test_live_events_frames_and_video_feed(gateway: GatewayHandle, emulators) -> None:
    camera = emulators("live")
    assert register(gateway, ip=camera.address, id="live", token=CAMERA_TOKEN)[0] == 200
    events = [e for e in read_events(gateway.port, 12) if e["source"] == "live"]
    assert len(events) >= 6
    numbers = [e["frame"] for e in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    labels = {d["label"] for e in events for d in e["detections"]}
    assert {"face", "person"} <= labels  # astronaut has a face, the cameraman is a person
    event = events[-1]
    assert {s["engine"] for s in event["engines"]} == {"face", "yolo"}
    assert all(s["ok"] and s["code"] == "OK" for s in event["engines"])
    assert event["source_kind"] == "camera" and event["served_by"]["hostname"]
    assert event["image"]["width"] == 640 and event["capture_time"].endswith("Z")

    # At most --max-fps (4 here) frames a second go to the mesh, however fast the camera serves.
    first = camera_state(gateway, "live")
    started = time.monotonic()
    wait_for(lambda: time.monotonic() - started > 3.0, WAIT_S, "three seconds")
    later = camera_state(gateway, "live")
    assert later["sent"] - first["sent"] <= 4 * (time.monotonic() - started) + 1
    assert later["received"] > later["sent"]  # the camera served more; the rest were skipped

    # The frame an event names is fetched as sent (the browser draws the boxes on it).
    code, jpeg = call("GET", base(gateway) + f"/api/cameras/live/frame.jpg?n={event['frame']}")
    if code == 200:  # kept for the last few frames only
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (640, 640, 3)
    code, annotated = call("GET", base(gateway) + "/api/cameras/live/annotated.jpg")
    assert code == 200 and annotated[:2] == b"\xff\xd8"
    assert call("GET", base(gateway) + "/api/cameras/nope/frame.jpg")[0] == 404

    # /video_feed: the tiled MJPEG of every camera, for old bookmarks.
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    connection.request("GET", "/video_feed")
    response = connection.getresponse()
    assert response.getheader("Content-Type").startswith("multipart/x-mixed-replace")
    head = response.read(200)
    connection.close()
    assert head.startswith(b"--liquidedgeframe\r\nContent-Type: image/jpeg\r\nContent-Length: ")

    # The page and its assets are served by the gateway itself.
    for path in ("/", "/camera/live", "/static/app.js", "/static/app.css"):
        code, body = call("GET", base(gateway) + path)
        assert code == 200 and len(body) > 500, path
    assert b"cdn" not in call("GET", base(gateway) + "/")[1].lower()

    metrics = call("GET", f"http://127.0.0.1:{gateway.metrics_port}/metrics")[1].decode()
    assert 'liquidedge_camera_frames_total{camera="live",stage="answered"}' in metrics
    assert 'liquidedge_camera_state{camera="live",state="online"} 1.0' in metrics
    remove_all(gateway)


def test_hostile_cameras_never_stall_a_good_one(gateway: GatewayHandle, emulators) -> None:
    """Garbage, a stall mid-frame, a 50 MB part and a camera closing every second, beside a good one."""
    good = emulators("good")
    assert register(gateway, ip=good.address, id="good", token=CAMERA_TOKEN)[0] == 200
    hostile = ("garbage", "stall", "huge", "flap")
    for mode in hostile:
        assert register(gateway, ip=emulators(mode, mode).address, id=mode, token=CAMERA_TOKEN)[0] == 200

    def all_hostile_degraded() -> bool:
        cameras = {c["id"]: c for c in state(gateway)["cameras"]}
        return all(cameras[m]["state"] == "degraded" for m in hostile)

    expected = {"garbage": "garbage", "stall": "stalled", "huge": "oversize", "flap": "closed"}

    def each_named() -> bool:
        cameras = {c["id"]: c for c in state(gateway)["cameras"]}
        return all(kind in cameras[mode]["faults"] for mode, kind in expected.items())

    wait_for(each_named, WAIT_S, f"the hostile cameras' faults named: {expected}")
    wait_for(all_hostile_degraded, WAIT_S, "every hostile camera shown as degraded")
    # While they misbehave, the good camera goes on being answered and stays online.
    before = answered(gateway, "good")
    wait_for(lambda: answered(gateway, "good") >= before + 5, WAIT_S, "the good camera answered on")
    assert camera_state(gateway, "good")["state"] == "online"
    assert camera_state(gateway, "good")["faults"] == {}
    remove_all(gateway)


def test_mesh_down_keeps_the_gateway_serving(emulators, tokens: tuple[Path, Path]) -> None:
    nothing = free_port()
    handle = start_gateway(nothing, "--camera-tokens-file", str(tokens[0]), *FAST)
    try:
        camera = emulators("alone")
        assert register(handle, ip=camera.address, id="alone", token=CAMERA_TOKEN)[0] == 200
        # The camera itself is fine (online: frames arrive); the mesh is what is down, and says so.
        found = wait_for(
            lambda: (
                (c := camera_state(handle, "alone"))
                and c["state"] == "online"
                and "UNAVAILABLE" in c["mesh_issue"]
                and c
            ),
            WAIT_S,
            "an online camera with the mesh's trouble shown beside it",
        )
        assert found["received"] > 0 and found["answered"] == 0
        assert state(handle)["mesh"]["status"] == "UNAVAILABLE"
    finally:
        handle.stop(0)


def test_container_healthcheck_asks_readyz() -> None:
    """docker/healthcheck.py --http-path, as the image's HEALTHCHECK runs it: 0 while ready, 1 when not."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "docker" / "healthcheck.py"

    def run(port: int) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable,
            str(script),
            "--port",
            str(port),
            "--http-path",
            "/readyz",
            "--timeout-s",
            "2",
        ]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)

    nothing = free_port()
    handle = start_gateway(nothing)
    try:
        result = run(handle.port)
        assert result.returncode == 0 and "HTTP 200" in result.stdout
        handle.http.draining.set()  # what SIGTERM does first
        result = run(handle.port)
        assert result.returncode == 1 and "HTTP 503" in result.stdout
    finally:
        handle.stop(0)
    assert run(handle.port).returncode == 1


def test_camera_limit_refuses_more_with_429(tokens: tuple[Path, Path]) -> None:
    first, second = nowhere(), nowhere()
    handle = start_gateway(
        int(nowhere().split(":")[1]), "--camera-tokens-file", str(tokens[0]), "--max-cameras", "1"
    )
    try:
        assert register(handle, ip=first, id="one", token=CAMERA_TOKEN)[0] == 200
        code, body = register(handle, ip=second, id="two", token=CAMERA_TOKEN)
        assert code == 429 and "MAX_CAMERAS" in body["error"]
        # The one it has may still re-register or move.
        assert register(handle, ip=first, id="one", token=CAMERA_TOKEN)[1]["result"] == "unchanged"
        assert register(handle, ip=second, id="one", token=CAMERA_TOKEN)[1]["result"] == "updated"
        assert handle.fleet.ids() == ["one"]
    finally:
        handle.stop(0)


def test_a_registered_camera_offline_too_long_is_removed_a_listed_one_is_not(
    aggregator_service: ServiceHandle, tokens: tuple[Path, Path], tmp_path: Path
) -> None:
    listed = tmp_path / "cameras.txt"
    listed.write_text(f"listed {nowhere()}\n")
    handle = start_gateway(
        aggregator_service.port,
        *("--camera-tokens-file", str(tokens[0]), "--cameras-file", str(listed)),
        *("--offline-after-s", "0.5", "--remove-after-s", "1.5", "--connect-timeout-s", "0.5"),
    )
    try:
        assert register(handle, ip=nowhere(), id="gone", token=CAMERA_TOKEN)[0] == 200
        assert camera_state(handle, "gone")["state"] == "offline"
        wait_for(lambda: camera_state(handle, "gone") is None, WAIT_S, "the silent registered camera removed")
        assert camera_state(handle, "listed")["state"] == "offline"  # configuration stays
    finally:
        handle.stop(0)
