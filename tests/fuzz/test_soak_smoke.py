"""The soak tool, briefly: its report has every field and its numbers are consistent.

Not a performance test: nothing here depends on how fast the machine is. The first test runs
the real CLI (`python -m meshtools.soak`, local mesh as processes) for a few seconds; the
second drives an in-process aggregator limited to one frame in flight, so frames are shed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jpeg_strategies import real_jpegs

from liquidedge.service import ServiceHandle
from meshtools.soak import SoakConfig, run_soak
from meshtools.soak.cli import build_parser, config_from_args
from support.services import start_aggregator

PHASE_FIELDS = {
    "phase",
    "streams",
    "seconds",
    "sent",
    "answered",
    "shed",
    "errors",
    "failed",
    "in_flight_at_stop",
    "partial_answers",
    "partial_engines",
    "throughput_fps",
    "shed_fraction",
    "latency_ms",
}


def assert_consistent(report: dict[str, Any], measured_phases: int) -> None:
    phases = [p for p in report["phases"] if p["phase"] != "warm-up"]
    assert len(phases) == measured_phases
    for row in [*report["phases"], report["total"]]:
        assert set(row) >= PHASE_FIELDS
        assert row["sent"] == row["answered"] + row["failed"] + row["in_flight_at_stop"]
        assert row["failed"] == row["shed"] + sum(row["errors"].values())
        assert row["in_flight_at_stop"] == 0  # every robot finished its frame before the report
        latency = row["latency_ms"]
        if row["answered"]:
            assert latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
        else:
            assert latency["p50"] is None
    total = report["total"]
    for key in ("sent", "answered", "shed", "failed"):
        assert total[key] == sum(p[key] for p in phases), key
    assert report["checks"]["balanced"] is True
    assert report["checks"]["unknown_or_internal"] == 0
    assert report["checks"]["robot_errors"] == []


def test_the_cli_against_the_local_mesh(model_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    command = [
        *(sys.executable, "-m", "meshtools.soak", "--seconds", "4", "--streams", "2", "--ramp", "1,2"),
        *("--warmup", "1", "--model-dir", model_dir, "--frames-size", "160x120", "--json", str(out)),
        "--service-arg=yolo=--max-in-flight=2",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "p99 ms" in done.stdout and "after warm-up" in done.stdout
    report = json.loads(out.read_text())
    assert_consistent(report, measured_phases=2)
    assert [p["streams"] for p in report["phases"]] == [4, 2, 4]  # warm-up at the heaviest step
    assert report["total"]["answered"] > 0
    assert report["settings"]["service_args"]["yolo"][-1] == "--max-in-flight=2"
    assert set(report["memory"]) == {"face", "yolo", "aggregator"}
    for memory in report["memory"].values():
        assert memory["alive_at_end"] is True
        warm, end = memory["rss_after_warmup_mib"], memory["rss_end_mib"]
        assert warm > 0 and end > 0
        # The change after warm-up, from the same samples (the MiB figures are rounded to 0.1).
        assert memory["rss_change_pct"] == pytest.approx((end - warm) * 100.0 / warm, abs=0.5)
        assert len(memory["samples"]) >= 2
    assert report["checks"]["processes_alive"] is True


def test_shed_frames_are_counted_apart(face_service: ServiceHandle, yolo_service: ServiceHandle) -> None:
    aggregator = start_aggregator(
        f"127.0.0.1:{face_service.port}", f"127.0.0.1:{yolo_service.port}", "--max-in-flight", "1"
    )
    try:
        config = SoakConfig(
            seconds=2, streams=4, warmup_s=0, mode="unary", target=f"127.0.0.1:{aggregator.port}"
        )
        report = run_soak(config, real_jpegs()[:2])
    finally:
        aggregator.stop(0)
    assert_consistent(report, measured_phases=1)
    total = report["total"]
    assert total["answered"] > 0
    assert total["shed"] > 0  # four robots against one slot
    assert set(total["errors"]) <= {"DEADLINE_EXCEEDED"}
    assert report["memory"] == {}  # a --target run samples only the pids it is given


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--service-arg", "gpu=--x"], "unknown service"),
        (["--service-arg", "yolo"], "NAME=VALUE"),
        (["--watch-pid", "face=notapid"], "invalid literal"),
    ],
)
def test_bad_flags_are_refused(argv: list[str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        config_from_args(build_parser().parse_args(argv))
