"""The videoclip client's summary against a fake mesh whose numbers are known."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from robot_fakes import ENGINE_LATENCY_MS, FakeMesh

from robotclient import videoclip
from robotclient.videoclip import ClipSettings, MeshTarget, load_clip, run_clip


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-frame MJPG clip at 24 fps with a moving square, written by OpenCV."""
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24.0, (320, 240))
    for i in range(12):
        image = np.full((240, 320, 3), 40, np.uint8)
        cv2.rectangle(image, (10 + i * 10, 60), (70 + i * 10, 180), (0, 200, 255), -1)
        writer.write(image)
    writer.release()
    return path


def test_load_clip(clip_path: Path) -> None:
    jpegs, fps = load_clip(str(clip_path), max_frames=100, width=160)
    assert len(jpegs) == 12 and fps == pytest.approx(24.0)
    decoded = cv2.imdecode(np.frombuffer(jpegs[0], np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (120, 160, 3)


def test_summary_with_known_numbers(clip_path: Path, fake_mesh: FakeMesh) -> None:
    fake_mesh.script.delay_s = 0.05
    jpegs, _ = load_clip(str(clip_path), max_frames=100)
    summary = run_clip(jpegs, MeshTarget(address=fake_mesh.address), ClipSettings(streams=3, frames=20))
    assert summary["streams"] == 3
    assert summary["frames_submitted"] == summary["frames_sent"] == summary["frames_answered"] == 60
    assert summary["frames_failed"] == summary["frames_dropped"] == summary["outages"] == 0
    # Every answer took at least the fake's delay; the percentiles are ordered.
    rtt = summary["rtt_ms"]
    assert 50.0 <= rtt["p50"] <= rtt["p95"] <= rtt["p99"]
    # Each stream has one frame in flight and waits for it: 3 streams at >= 50 ms each can
    # never exceed 60 answers per second, whatever the machine.
    assert 0 < summary["fps"] <= 60.0
    assert summary["fps"] == pytest.approx(60 / summary["duration_s"], rel=1e-3)
    # The fake reports fixed engine latencies: every percentile is exactly that number.
    for name, ms in ENGINE_LATENCY_MS.items():
        assert summary["engine_latency_ms"][name] == {"p50": ms, "p95": ms, "p99": ms}
    # The fake saw 20 frames from each stream, numbered 1..20.
    assert sorted(fake_mesh.servicer.seen) == sorted(list(range(1, 21)) * 3)


def test_summary_counts_refused_frames(clip_path: Path, fake_mesh: FakeMesh) -> None:
    for number in (3, 7):
        fake_mesh.script.refuse[number] = grpc.StatusCode.RESOURCE_EXHAUSTED
    jpegs, _ = load_clip(str(clip_path), max_frames=100)
    summary = run_clip(jpegs, MeshTarget(address=fake_mesh.address), ClipSettings(streams=2, frames=10))
    assert summary["frames_sent"] == 20
    assert summary["frames_answered"] == 16
    assert summary["frames_failed"] == 4
    assert summary["failures_by_code"] == {"RESOURCE_EXHAUSTED": 4}
    assert summary["outages"] == 0


def test_native_rate_drops_instead_of_queueing(clip_path: Path, fake_mesh: FakeMesh) -> None:
    # 20 frames at 100 fps against a mesh that needs 0.12 s per frame: most frames must be
    # skipped (newest only), none queued, and every frame sent is accounted for.
    fake_mesh.script.delay_s = 0.12
    jpegs, _ = load_clip(str(clip_path), max_frames=100)
    summary = run_clip(
        jpegs, MeshTarget(address=fake_mesh.address), ClipSettings(frames=20, rate="native", fps=100.0)
    )
    assert summary["frames_submitted"] == 20
    assert summary["frames_dropped"] > 0
    assert summary["frames_sent"] + summary["frames_dropped"] == 20
    assert summary["frames_answered"] == summary["frames_sent"]
    assert fake_mesh.servicer.seen[-1] == 20  # the last frame is always sent


@pytest.mark.parametrize("protocol", ["v1", "legacy"])
def test_main_prints_json(
    clip_path: Path, fake_mesh: FakeMesh, protocol: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "--video",
        str(clip_path),
        "--mesh-addr",
        fake_mesh.address,
        "--frames",
        "5",
        "--protocol",
        protocol,
    ]
    assert videoclip.main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames_answered"] == 5 and summary["protocol"] == protocol


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"streams": 0}, "streams"),
        ({"frames": 0}, "frames"),
        ({"rate": "slow"}, "rate"),
        ({"rate": "native", "fps": 0}, "fps"),
    ],
)
def test_clip_settings_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClipSettings(**kwargs)
