"""Helpers for the gateway tests: start it on port 0, talk HTTP to it (waiting: `support.waiting`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from cameragateway.service import GatewayHandle, build_parser, check_args, start

CAMERA_TOKEN = "camera-secret-1"
OPERATOR_TOKEN = "operator-secret-9"
# How long a test waits (support.waiting.wait_for) for what the gateway shows: generous, as the
# gateway pulls and forwards real frames on a busy 2-core machine.
WAIT_S = 60.0


def token_files(folder: Path) -> tuple[Path, Path]:
    cameras = folder / "camera-tokens.txt"
    cameras.write_text(f"# camera tokens\n{CAMERA_TOKEN}\nsecond-camera-token\n")
    operator = folder / "operator-token.txt"
    operator.write_text(OPERATOR_TOKEN + "\n")
    return cameras, operator


def start_gateway(mesh_port: int, *extra: str) -> GatewayHandle:
    parser = build_parser()
    args = parser.parse_args(
        [
            "--port",
            "0",
            "--metrics-port",
            "0",
            "--mesh-addr",
            f"127.0.0.1:{mesh_port}",
            "--log-format",
            "text",
            *extra,
        ]
    )
    check_args(parser, args)
    return start(args)


def call(
    method: str, url: str, *, body: dict | None = None, token: str = "", timeout_s: float = 10.0
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            raw = response.read()
            code = response.status
            kind = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        raw, code, kind = error.read(), error.code, error.headers.get("Content-Type", "")
    return code, json.loads(raw) if kind.startswith("application/json") else raw


def state(gateway: GatewayHandle) -> dict[str, Any]:
    code, data = call("GET", f"http://127.0.0.1:{gateway.port}/api/state")
    assert code == 200
    return data


def camera_state(gateway: GatewayHandle, camera_id: str) -> dict[str, Any] | None:
    return next((c for c in state(gateway)["cameras"] if c["id"] == camera_id), None)


def register(gateway: GatewayHandle, **params: str) -> tuple[int, Any]:
    """The field cameras' call: `GET /register?ip=...&token=...` (plus whatever else is given)."""
    query = urllib.parse.urlencode(params)
    return call("GET", f"http://127.0.0.1:{gateway.port}/register?{query}")
