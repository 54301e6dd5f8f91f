"""The benchmark's machinery: closed-loop load, ratios, the JSON it writes, its flags.

Behaviour only: what is counted, reported and written, never how fast anything is.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from meshtools.bench.cli import build_parser, main, make_plan, parse_streams, parse_variant
from meshtools.bench.load import CaseResult, Stream, percentiles, run_closed_loop
from meshtools.bench.report import compute_ratios, format_ratios, format_table, write_json


def result(case: str, streams: int, fps: float, p50: float = 10.0) -> CaseResult:
    return CaseResult("x", case, streams, int(fps * 2), 2.0, 0, (p50, p50 * 2, p50 * 3))


def test_every_stream_sends_distinct_frames_and_errors_are_counted() -> None:
    seen: list[int] = []
    lock = threading.Lock()
    closed: list[int] = []

    def open_stream(index: int) -> Stream:
        def send(frame: int) -> None:
            with lock:
                seen.append(frame)
            if frame % 7 == 3:
                raise RuntimeError("engine down")

        return Stream(send, lambda: closed.append(index))

    outcome = run_closed_loop("a", "fake", open_stream, streams=3, warmup_s=0.05, measure_s=0.2)
    assert sorted(closed) == [0, 1, 2]
    assert len(seen) == len(set(seen)), "frame numbers must not repeat across streams"
    assert outcome.frames > 0 and outcome.errors > 0
    assert outcome.first_error == "RuntimeError: engine down"
    assert outcome.fps == pytest.approx(outcome.frames / outcome.seconds)


def test_percentiles_are_in_milliseconds_and_empty_is_nan() -> None:
    assert percentiles([0.001 * i for i in range(1, 101)]) == pytest.approx((50.5, 95.05, 99.01))
    assert all(math.isnan(v) for v in percentiles([]))


def test_ratios_pair_each_case_with_its_same_run_baseline() -> None:
    results = [
        result("inproc:mesh-work", 1, 10.0, p50=100.0),
        result("grpc:mesh", 1, 9.0, p50=110.0),
        result("inproc:yolo-unbatched", 4, 20.0),
        result("inproc:yolo", 4, 60.0),
        result("grpc:yolo", 32, 900.0),
        result("model:batch-32", 1, 1000.0),
        result("grpc:mesh", 4, 8.0),
        result("grpc:mesh-no-retry", 4, 12.0),
    ]
    ratios = {
        (r.name, r.streams, r.note): r.value
        for r in compute_ratios(results, [1, 4, 32], max_batch=32, mesh_variants=["no-retry"])
    }
    assert ratios[("mesh / in-process", 1, "frames/s")] == pytest.approx(0.9)
    assert ratios[("mesh / in-process", 1, "p50 latency")] == pytest.approx(1.1)
    assert ratios[("batched / unbatched (in-process)", 4, "frames/s")] == pytest.approx(3.0)
    assert ratios[("yolo service / model-only", 32, "frames/s at the service's max batch")] == pytest.approx(
        0.9
    )
    assert ratios[("mesh no-retry / mesh", 4, "frames/s")] == pytest.approx(1.5)
    # A missing baseline gives no ratio rather than a made-up one.
    assert ("mesh / in-process", 4, "frames/s") not in ratios


def test_table_and_json_carry_the_same_numbers(tmp_path: Path) -> None:
    results = [result("inproc:mesh-work", 1, 10.0), result("grpc:mesh", 1, 9.0)]
    results.append(CaseResult("c", "grpc:mesh", 4, 0, 1.0, 2, percentiles([]), first_error="boom"))
    ratios = compute_ratios(results, [1, 4], max_batch=8, mesh_variants=[])
    table = format_table(results)
    assert "grpc:mesh" in table and "first error: boom" in table
    assert "0.90" in format_ratios(ratios)
    path = tmp_path / "out" / "bench.json"
    write_json(path, {"device": "cpu"}, results, ratios)
    document = json.loads(path.read_text())
    assert document["info"] == {"device": "cpu"}
    assert document["results"][0]["frames_per_s"] == 10.0
    assert document["results"][2]["latency_ms"] == {"p50": None, "p95": None, "p99": None}
    assert {r["name"] for r in document["ratios"]} == {"mesh / in-process"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,4,16,64", (1, 4, 16, 64)),
        ("8", (8,)),
        ("0,4", ValueError),  # no stream at all is not a case
        ("", ValueError),
    ],
)
def test_streams_flag(text: str, expected: tuple[int, ...] | type[Exception]) -> None:
    if isinstance(expected, type):
        with pytest.raises(expected):
            parse_streams(text)
    else:
        assert parse_streams(text) == expected


def test_mesh_variant_flag() -> None:
    assert parse_variant("no-retry=--attempts 1") == ("no-retry", ["--attempts", "1"])
    with pytest.raises(ValueError, match="NAME=--flag"):
        parse_variant("no-retry")


def test_plan_on_cpu_uses_tiny_with_the_service_default_backend_and_short_streams(model_dir: str) -> None:
    plan = make_plan(build_parser().parse_args(["--short", "--model-dir", model_dir, "--device", "cpu"]))
    assert (plan.backend, plan.model, plan.device, plan.max_batch) == ("auto", "yolov3-tiny", "cpu", 8)
    assert plan.streams == (1, 4) and not plan.random_weights


def test_plan_without_weights_runs_torch_on_random_weights(tmp_path: Path) -> None:
    args = ["--model-dir", str(tmp_path), "--model", "yolov3", "--backend", "torch", "--device", "cpu"]
    plan = make_plan(build_parser().parse_args(args))
    assert plan.random_weights and "--allow-random-weights" in plan.yolo_flags
    with pytest.raises(SystemExit, match="make models"):
        make_plan(
            build_parser().parse_args(["--model-dir", str(tmp_path), "--model", "yolov3", "--device", "cpu"])
        )


def test_in_process_run_writes_a_complete_report(model_dir: str, tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    argv = ["--short", "--skip-grpc", "--streams", "2", "--measure-s", "0.2", "--model-dir", model_dir]
    # Batching asked for explicitly (the OpenVINO default runs without the batcher).
    assert main([*argv, "--device", "cpu", "--max-batch", "8", "--json", str(path)]) == 0
    document = json.loads(path.read_text())
    cases = {(r["case"], r["streams"]) for r in document["results"]}
    assert {("model:batch-1", 1), ("model:batch-8", 1), ("inproc:yolo", 2), ("inproc:mesh-work", 2)} <= cases
    assert ("baseline:original-sequential", 1) in cases
    assert all(r["frames"] > 0 and r["errors"] == 0 for r in document["results"])
    assert document["info"]["yolo_weights"] == "trained"
    assert any(r["name"] == "batched / unbatched (in-process)" for r in document["ratios"])


def test_judged_ratios_compare_the_mesh_with_the_original_measured_in_the_same_run() -> None:
    from meshtools.bench.baseline import BASELINE_CASE, baseline_ratios

    results = [
        result(BASELINE_CASE, 1, 10.0, p50=100.0),
        result("grpc:mesh", 1, 15.0, p50=55.0),
        result("grpc:mesh", 4, 19.0, p50=200.0),
    ]
    found = {(r.name, r.streams): r for r in baseline_ratios(results)}
    fps = found[("mesh / original (frames/s)", 4)]
    p50 = found[("mesh / original (p50)", 1)]
    assert fps.value == pytest.approx(1.9) and "MISSES" in fps.note and ">= 2" in fps.note
    assert p50.value == pytest.approx(0.55) and "meets" in p50.note and "<= 0.6" in p50.note
    # Without the baseline there is nothing to judge against.
    assert baseline_ratios(results[1:]) == []
