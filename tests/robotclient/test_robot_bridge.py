"""The RoboMaster bridge: the real script as a subprocess, with a fake `robomaster` SDK on its path.

The bridge runs under every interpreter we can find that matters: this one, and CPython 3.8 (the
SDK's own Python on the robot) when it is installed. The fake SDK (tests/robotclient/fake_sdk)
appends each call to a JSON-lines file that these tests read, and delivers armour hits written to
a second file through the callback the bridge subscribed.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from robot_fakes import FakeMesh, write_frames

from robotclient.__main__ import main
from robotclient.cli import ROBOMASTER_DRIVERS, bridge_settings_from, build_parser
from robotclient.drivers.base import Driver
from robotclient.drivers.bridge import BRIDGE_SCRIPT, BridgeSettings, RoboMasterBridgeDriver
from robotclient.values import Led, Plate, Twist
from support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / "src" / "robomaster_bridge" / "bridge.py"
FAKE_SDK = Path(__file__).resolve().parent / "fake_sdk"
ZERO = {"x": 0.0, "y": 0.0, "z": 0.0}


def find_python(version: str, *candidates: str) -> str | None:
    """The first candidate that exists and really is CPython `version` (pyenv shims can lie)."""
    for candidate in candidates:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if not path or not os.access(path, os.X_OK):
            continue
        try:
            probe = subprocess.run(
                [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=20,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return path
    return None


PYTHON38 = find_python("3.8", "/root/.pyenv/versions/3.8.18/bin/python", "python3.8")
PYTHON36 = find_python("3.6", "/root/.pyenv/versions/3.6.15/bin/python", "python3.6")
INTERPRETERS = [
    pytest.param(sys.executable, id="this-python"),
    pytest.param(
        PYTHON38,
        id="python3.8",
        marks=pytest.mark.skipif(
            PYTHON38 is None, reason="no CPython 3.8 interpreter here (the SDK's Python on the robot)"
        ),
    ),
]


@dataclass
class BridgeRun:
    """One bridge process and the files its fake SDK writes."""

    python: str
    folder: Path
    watchdog_s: float = 0.5
    listen: str = ""
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.listen = self.listen or str(self.folder / "bridge.sock")
        self.calls_file = self.folder / "calls.jsonl"
        self.hits_file = self.folder / "hits.txt"
        self.stderr_file = self.folder / "bridge.log"

    def start(self, *extra: str) -> BridgeRun:
        env = {
            **os.environ,
            "PYTHONPATH": str(FAKE_SDK),
            "FAKE_ROBOMASTER_LOG": str(self.calls_file),
            "FAKE_ROBOMASTER_HITS": str(self.hits_file),
            **self.env,
        }
        argv = [
            self.python,
            str(BRIDGE),
            "--listen",
            self.listen,
            "--watchdog-s",
            str(self.watchdog_s),
            *extra,
        ]
        with self.stderr_file.open("ab") as stderr:
            self.process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stderr=stderr)
        return self

    def wait_listening(self) -> str:
        """The address the bridge says it listens on (port 0 resolves to the real one)."""

        def listening() -> str | None:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"bridge exited {self.process.returncode}:\n{self.log()}")
            found = re.search(r"listening on (\S+)", self.log())
            return found.group(1) if found else None

        return wait_for(listening, 20.0, "the bridge to listen")

    def log(self) -> str:
        return self.stderr_file.read_text() if self.stderr_file.exists() else ""

    def calls(self, name: str | None = None) -> list[dict[str, Any]]:
        if not self.calls_file.exists():
            return []
        entries = [json.loads(line) for line in self.calls_file.read_text().splitlines() if line]
        return [e for e in entries if name is None or e["call"] == name]

    def drives(self) -> list[dict[str, Any]]:
        return [{k: e[k] for k in ("x", "y", "z")} for e in self.calls("chassis.drive_speed")]

    def hit(self, armor_id: int, hit_type: str = "ir") -> None:
        with self.hits_file.open("a") as hits:
            hits.write(f"{armor_id} {hit_type}\n")

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


class LineClient:
    """A raw JSON-lines client, to send the bridge exactly the bytes a test wants."""

    def __init__(self, listen: str) -> None:
        family = socket.AF_UNIX if "/" in listen else socket.AF_INET
        host, _, port = listen.rpartition(":")
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(5.0)
        self.sock.connect(listen if family == socket.AF_UNIX else (host, int(port)))
        self.reader = self.sock.makefile("rb")

    def send_line(self, raw: bytes) -> dict[str, Any]:
        self.sock.sendall(raw + b"\n")
        return json.loads(self.reader.readline())

    def send(self, **request: Any) -> dict[str, Any]:
        return self.send_line(json.dumps(request).encode())

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths must stay under ~100 bytes, which pytest's tmp_path can exceed."""
    folder = Path(tempfile.mkdtemp(prefix="rmb-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def start_bridge(short_dir: Path) -> Iterator[Callable[..., BridgeRun]]:
    runs: list[BridgeRun] = []

    def start(python: str = sys.executable, *extra: str, **kwargs: Any) -> BridgeRun:
        run = BridgeRun(python, short_dir, **kwargs).start(*extra)
        runs.append(run)
        if not kwargs.get("env"):
            run.wait_listening()
        return run

    yield start
    for run in runs:
        run.stop()


# --- the bridge on its own, under each interpreter ---------------------------------------------


@pytest.mark.parametrize("python", INTERPRETERS)
def test_drive_stop_and_led_reach_the_sdk(start_bridge: Callable[..., BridgeRun], python: str) -> None:
    bridge = start_bridge(python, "--conn-type", "ap", watchdog_s=2.0)
    client = LineClient(bridge.listen)
    assert client.send(id=1, cmd="ping") == {
        "id": 1,
        "ok": True,
        "watchdog_s": 2.0,
        "python": client_python(python),
    }
    assert client.send(id=2, cmd="drive", x=0.2, y=-0.1, z=-30) == {"id": 2, "ok": True}
    assert client.send(id=3, cmd="led", r=1, g=2, b=3, effect="flash")["ok"]
    assert client.send(id=4, cmd="stop")["ok"]
    calls = bridge.calls()
    assert [c["call"] for c in calls[:3]] == ["initialize", "set_robot_mode", "armor.sub_hit_event"]
    assert calls[0]["conn_type"] == "ap" and calls[1]["mode"] == "chassis_lead"
    drive, led, stop = calls[3:6]
    # The SDK's own drive timeout is armed with the watchdog period as a second dead-man switch.
    assert drive == {**drive, "call": "chassis.drive_speed", "x": 0.2, "y": -0.1, "z": -30.0, "timeout": 2.0}
    assert led == {**led, "call": "led.set_led", "comp": "all", "r": 1, "g": 2, "b": 3, "effect": "flash"}
    assert led["effect_is_sdk_constant"], "the SDK compares effects with `is`: pass its constant"
    assert stop == {**stop, "call": "chassis.drive_speed", **ZERO}
    client.close()


def client_python(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout.strip()


@pytest.mark.parametrize("python", INTERPRETERS)
def test_hits_flow_back_once(start_bridge: Callable[..., BridgeRun], python: str) -> None:
    bridge = start_bridge(python)
    client = LineClient(bridge.listen)
    bridge.hit(2, "ir")
    bridge.hit(5, "water")
    hits: list[dict[str, Any]] = []

    def got_both() -> bool:
        hits.extend(client.send(cmd="hits")["hits"])
        return len(hits) >= 2

    wait_for(got_both, what="two hits")
    assert [(h["armor_id"], h["hit_type"]) for h in hits] == [(2, "ir"), (5, "water")]
    assert client.send(cmd="hits")["hits"] == []  # polling clears them
    client.close()


@pytest.mark.parametrize("python", INTERPRETERS)
def test_watchdog_stops_a_silent_client(start_bridge: Callable[..., BridgeRun], python: str) -> None:
    bridge = start_bridge(python, watchdog_s=0.3)
    client = LineClient(bridge.listen)
    client.send(cmd="drive", x=0.3, y=0.0, z=10.0)
    # Still connected, just silent: only the watchdog can stop it.
    wait_for(lambda: bridge.drives()[-1] == ZERO, what="the watchdog's stop")
    drive, stop = bridge.calls("chassis.drive_speed")[-2:]
    assert stop["t"] - drive["t"] >= 0.3
    wait_for(lambda: "watchdog: no drive command" in bridge.log(), what="the watchdog's log line")
    # The client is still served afterwards.
    assert client.send(cmd="ping")["ok"]
    client.close()


@pytest.mark.parametrize("python", INTERPRETERS)
def test_disconnect_stops_the_chassis(start_bridge: Callable[..., BridgeRun], python: str) -> None:
    bridge = start_bridge(python, watchdog_s=30.0)  # far longer than the test: not the watchdog
    client = LineClient(bridge.listen)
    client.send(cmd="drive", x=0.5, y=0.0, z=0.0)
    client.close()
    wait_for(lambda: bridge.drives()[-1] == ZERO, what="a stop after the disconnect")
    wait_for(lambda: "disconnected" in bridge.log(), what="the disconnect's log line")
    # The next client is served.
    again = LineClient(bridge.listen)
    assert again.send(cmd="ping")["ok"]
    again.close()


@pytest.mark.parametrize("python", INTERPRETERS)
def test_bad_requests_get_an_error_and_the_bridge_keeps_serving(
    start_bridge: Callable[..., BridgeRun], python: str
) -> None:
    bridge = start_bridge(python, watchdog_s=30.0)
    client = LineClient(bridge.listen)
    cases = [
        # (raw line, expected error fragment)
        (b"this is not json", "malformed JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"cmd": "fly"}', "unknown cmd"),
        (b'{"cmd": "led", "r": 300, "g": 0, "b": 0}', "0-255"),
        (b'{"cmd": "led", "r": 1, "g": 0, "b": 0, "effect": "disco"}', "effect must be"),
        (b'{"cmd": "drive", "x": NaN}', "finite number"),
        (b'{"cmd": "led", "r": 1, "g": 0, "b": 0, "comp": "wheel"}', "did not take"),
    ]
    for raw, error in cases:
        reply = client.send_line(raw)
        assert reply["ok"] is False and error in reply["error"], (raw, reply)
    client.send(cmd="drive", x=0.2)
    reply = client.send(id=9, cmd="drive", x="fast")
    assert reply["id"] == 9 and reply["ok"] is False
    assert bridge.drives()[-1] == ZERO, "an unreadable drive command must stop the chassis"
    assert client.send(id=10, cmd="ping")["ok"], "still serving"
    client.close()


def test_speeds_are_clamped_to_the_sdk_ranges(start_bridge: Callable[..., BridgeRun]) -> None:
    bridge = start_bridge()
    client = LineClient(bridge.listen)
    client.send(cmd="drive", x=9.0, y=-9.0, z=1000)
    assert bridge.drives()[-1] == {"x": 3.5, "y": -3.5, "z": 600.0}
    client.close()


def test_a_second_client_is_told_the_robot_is_busy(start_bridge: Callable[..., BridgeRun]) -> None:
    bridge = start_bridge()
    first = LineClient(bridge.listen)
    assert first.send(cmd="ping")["ok"]
    second = LineClient(bridge.listen)
    busy = json.loads(second.reader.readline())
    assert busy["ok"] is False and "busy" in busy["error"]
    assert first.send(cmd="ping")["ok"]
    first.close()
    second.close()


def test_tcp_listen_on_loopback(start_bridge: Callable[..., BridgeRun]) -> None:
    bridge = start_bridge(sys.executable, listen="127.0.0.1:0")
    address = bridge.wait_listening()
    assert address.startswith("127.0.0.1:") and not address.endswith(":0")
    client = LineClient(address)
    assert client.send(cmd="ping")["ok"]
    client.close()


def test_sigterm_stops_the_chassis_and_closes_the_sdk(start_bridge: Callable[..., BridgeRun]) -> None:
    bridge = start_bridge(watchdog_s=30.0)
    client = LineClient(bridge.listen)
    client.send(cmd="drive", x=0.1)
    assert bridge.stop() == 0
    names = [c["call"] for c in bridge.calls()]
    assert names[-2:] == ["armor.unsub_hit_event", "close"]
    assert bridge.drives()[-1] == ZERO
    assert not Path(bridge.listen).exists(), "the unix socket file is removed"
    assert "Traceback" not in bridge.log(), bridge.log()
    client.close()


@pytest.mark.parametrize(
    ("extra", "env", "message"),
    [
        # the SDK is missing: say what to install, for which Python
        ([], {"PYTHONPATH": os.devnull}, "pip install robomaster (CPython 3.6-3.8)"),
        # initialize() returns False when no robot answers
        ([], {"FAKE_ROBOMASTER_ABSENT": "1"}, "no RoboMaster answered over rndis"),
        # anyone who reaches the socket drives the robot: loopback only unless asked
        (["--listen", "0.0.0.0:40923"], {}, "refusing to listen"),
    ],
)
@pytest.mark.parametrize("python", INTERPRETERS)
def test_start_up_failures_say_why(
    start_bridge: Callable[..., BridgeRun], python: str, extra: list[str], env: dict[str, str], message: str
) -> None:
    bridge = start_bridge(python, *extra, env={"BRIDGE_TEST": "1", **env})
    assert bridge.process is not None
    assert bridge.process.wait(20) != 0
    assert message in bridge.log()
    if "FAKE_ROBOMASTER_ABSENT" in env:
        assert bridge.calls()[-1]["call"] == "close", "a robot that failed to initialise is closed"


def test_the_driver_spawns_the_bridge_from_the_installed_package() -> None:
    # The editable install serves src/; a wheel holds the same file under site-packages.
    assert BRIDGE_SCRIPT.resolve() == BRIDGE.resolve()
    # Run by path, its folder leads sys.path: nothing there may shadow the SDK's `robomaster`.
    assert sorted(p.name for p in BRIDGE.parent.iterdir() if p.name != "__pycache__") == [
        "__init__.py",
        "bridge.py",
    ]


def test_the_bridge_imports_only_the_standard_library() -> None:
    tree = ast.parse(BRIDGE.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    outside = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names}
    assert outside == {"robomaster"}, "the bridge may import the SDK and the standard library only"


def test_the_bridge_keeps_to_python_36_syntax() -> None:
    paths = [BRIDGE, *sorted((FAKE_SDK / "robomaster").glob("*.py"))]
    assert len(paths) == 4  # the bridge and the fake SDK's three modules
    for path in paths:
        try:
            ast.parse(path.read_text(), filename=str(path), feature_version=(3, 6))
        except SyntaxError as error:
            pytest.fail(f"{path.name} is not Python 3.6 syntax: {error}")


@pytest.mark.skipif(PYTHON36 is None, reason="no CPython 3.6 interpreter here")
def test_the_bridge_compiles_under_python_36() -> None:
    # compile() in memory: py_compile would leave 3.6 bytecode beside the sources.
    for path in [BRIDGE, *sorted((FAKE_SDK / "robomaster").glob("*.py"))]:
        code = "import sys; p = sys.argv[1]; compile(open(p).read(), p, 'exec')"
        result = subprocess.run([PYTHON36, "-c", code, str(path)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"{path.name} does not compile under Python 3.6:\n{result.stderr}"


# --- the 3.11 driver against the real bridge ---------------------------------------------------


@pytest.mark.parametrize("python", INTERPRETERS)
def test_driver_drives_lights_and_maps_hits_to_plates(
    start_bridge: Callable[..., BridgeRun], python: str
) -> None:
    bridge = start_bridge(python, watchdog_s=2.0)
    driver = RoboMasterBridgeDriver(BridgeSettings(address=bridge.listen, timeout_s=2.0))
    assert isinstance(driver, Driver)
    driver.drive(Twist(x_mps=0.25, y_mps=0.0, z_dps=-20.0))
    assert bridge.drives()[-1] == {"x": 0.25, "y": 0.0, "z": -20.0}
    driver.set_led(Led(rgb=(10, 20, 30), effect="breath"))
    led = bridge.calls("led.set_led")[-1]
    assert (led["r"], led["g"], led["b"], led["effect"]) == (10, 20, 30, "breath")
    bridge.hit(9)  # not an armour id the S1 has: ignored with a warning (it arrives first)
    for armor_id in range(1, 7):  # chassis back, front, left, right; gimbal left, right
        bridge.hit(armor_id)
    plates: list[Plate] = []
    wait_for(lambda: plates.extend(driver.poll_hits()) or len(plates) >= 6, what="hits through the driver")
    assert plates == [Plate.BACK, Plate.FRONT, Plate.LEFT, Plate.RIGHT, Plate.LEFT, Plate.RIGHT]
    driver.close()
    assert bridge.drives()[-1] == ZERO
    wait_for(
        lambda: "client closed its session" in bridge.log() or "gone" in bridge.log(), what="session end"
    )
    assert bridge.process is not None and bridge.process.poll() is None, "the bridge outlives its client"


def test_driver_survives_a_bridge_restart(
    start_bridge: Callable[..., BridgeRun], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="robotclient.drivers.bridge")
    bridge = start_bridge(watchdog_s=2.0)
    driver = RoboMasterBridgeDriver(BridgeSettings(address=bridge.listen, timeout_s=2.0, retry_s=0.1))
    driver.set_led(Led(rgb=(0, 255, 0), effect="on"))
    bridge.stop()
    driver.drive(Twist(x_mps=0.1))  # does not raise: the outage is logged and retried
    assert driver.in_outage and "unreachable" in caplog.text
    assert driver.poll_hits() == []
    bridge.start().wait_listening()
    wait_for(lambda: driver.drive(Twist(x_mps=0.2)) or not driver.in_outage, what="reconnection")
    assert "back after" in caplog.text
    led = bridge.calls("led.set_led")[-1]
    assert (led["g"], led["effect"]) == (255, "on"), "the LEDs are restored after the outage"
    driver.drive(Twist(x_mps=0.2))
    assert bridge.drives()[-1]["x"] == 0.2
    driver.close()


def test_driver_fails_fast_without_a_bridge(short_dir: Path) -> None:
    with pytest.raises(OSError, match="no RoboMaster bridge answers"):
        RoboMasterBridgeDriver(BridgeSettings(address=str(short_dir / "nobody.sock")))


def test_driver_spawns_and_stops_the_bridge(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls_file = short_dir / "calls.jsonl"
    monkeypatch.setenv("PYTHONPATH", str(FAKE_SDK))
    monkeypatch.setenv("FAKE_ROBOMASTER_LOG", str(calls_file))
    python = PYTHON38 or sys.executable
    settings = BridgeSettings(
        address=str(short_dir / "b.sock"), spawn_python=python, conn_type="sta", sn="3JKCH"
    )
    driver = RoboMasterBridgeDriver(settings)
    driver.drive(Twist(z_dps=15.0))
    process = driver._process
    assert process is not None
    driver.close()
    assert process.exit_code() == 0
    calls = [json.loads(line) for line in calls_file.read_text().splitlines()]
    assert calls[0] == {**calls[0], "call": "initialize", "conn_type": "sta", "sn": "3JKCH"}
    assert calls[-1]["call"] == "close"


def test_spawn_with_a_missing_interpreter_says_so(short_dir: Path) -> None:
    settings = BridgeSettings(address=str(short_dir / "b.sock"), spawn_python="/no/such/python3.8")
    with pytest.raises(OSError, match="cannot start the RoboMaster bridge"):
        RoboMasterBridgeDriver(settings)


# --- the command line --------------------------------------------------------------------------


def test_bridge_flags_and_env_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBOT_BRIDGE_ADDR", "/run/robomaster.sock")
    monkeypatch.setenv("ROBOT_SPAWN_BRIDGE", "python3.8")
    args = build_parser().parse_args(["--driver", "robomaster-bridge", "--robomaster-conn", "ap"])
    settings = bridge_settings_from(args)
    assert settings == BridgeSettings(
        address="/run/robomaster.sock", spawn_python="python3.8", conn_type="ap"
    )


def test_the_client_drives_through_the_bridge(
    start_bridge: Callable[..., BridgeRun], tmp_path: Path, fake_mesh: FakeMesh
) -> None:
    bridge = start_bridge(watchdog_s=2.0)
    frames = write_frames(tmp_path / "frames", 3)
    argv = ["--driver", "robomaster", "--bridge-addr", bridge.listen, "--source", str(frames)]
    argv += ["--loop", "true", "--frames", "10", "--mesh-addr", fake_mesh.address, "--view-port", "-1"]
    assert main(argv) == 0
    assert len(bridge.calls("chassis.drive_speed")) >= 10
    assert bridge.calls("led.set_led"), "the state's LED reached the robot"
    assert bridge.drives()[-1] == ZERO


@pytest.mark.parametrize("driver", ROBOMASTER_DRIVERS)
def test_the_client_refuses_to_start_without_its_bridge(
    short_dir: Path, capsys: pytest.CaptureFixture[str], driver: str
) -> None:
    # Both names of the RoboMaster driver mean the bridge: its start-up check is what refuses.
    frames = write_frames(short_dir / "frames", 1, size_wh=(64, 48))
    argv = ["--driver", driver, "--bridge-addr", str(short_dir / "none.sock"), "--source", str(frames)]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert "no RoboMaster bridge answers" in capsys.readouterr().err
    assert exit_info.value.code == 2
