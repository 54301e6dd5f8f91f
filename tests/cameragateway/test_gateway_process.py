"""`cameragateway` as a process, the way a container runs it: flags from the environment, ready on
/readyz, SIGTERM ends it cleanly; a bad setting stops it at start with a message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from gateway_kit import WAIT_S, call

from support.ports import free_port
from support.waiting import wait_for


def test_serves_from_its_environment_and_stops_on_sigterm(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("a-camera-token\n")
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "METRICS_PORT": "-1",
        "OBJECTDETECTION_ADDR": f"127.0.0.1:{free_port()}",  # no mesh: the gateway serves anyway
        "CAMERA_TOKENS_FILE": str(tokens),
        "LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "cameragateway"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: _ready(port), WAIT_S, "the gateway ready on /readyz")
        code, body = call(
            "GET", f"http://127.0.0.1:{port}/register?ip=127.0.0.1:{free_port()}&token=a-camera-token"
        )
        assert code == 200 and body["result"] == "added"
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        logs = process.stderr.read()
        assert '"message": "shutting down"' in logs and '"reason": "SIGTERM"' in logs
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _ready(port: int) -> bool:
    try:
        return call("GET", f"http://127.0.0.1:{port}/readyz", timeout_s=1.0)[0] == 200
    except OSError:
        return False


def test_a_bad_setting_stops_it_at_start_with_a_message(tmp_path: Path) -> None:
    placeholder = tmp_path / "tokens"
    placeholder.write_text("replace-me-with-your-camera-tokens\n")
    env = {**os.environ, "CAMERA_TOKENS_FILE": str(placeholder), "PORT": str(free_port())}
    result = subprocess.run(
        [sys.executable, "-m", "cameragateway"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "still holds the placeholder token" in result.stderr
