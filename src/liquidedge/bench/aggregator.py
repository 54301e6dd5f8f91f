"""`python -m liquidedge.bench.aggregator`: thread-pool vs asyncio aggregator, behind fake detectors.

The aggregator's own ceiling: both server modes run as processes of their own, side by side,
against one fake detector process that answers at once (`fake_detector`), driven by the same
closed-loop robot streams as `make bench` (one DetectStream and one frame in flight per robot,
640x480 JPEG frames, face + YOLO requested). For each number of streams the thread-pool case
runs right before the asyncio one, so both see the same machine. Prints frames/s and latency
per case and the ratios aio / thread; writes the same as JSON.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from liquidedge.bench.grpc_cases import grpc_stream, service_flags, start_service
from liquidedge.bench.load import CaseResult, run_closed_loop
from liquidedge.bench.report import Ratio, find, format_ratios, format_table, write_json
from liquidedge.localmesh import ServiceProcess
from liquidedge.samples import sample_frames

log = logging.getLogger("liquidedge.bench.aggregator")

MODES = ("thread", "aio")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liquidedge.bench.aggregator", description=__doc__)
    parser.add_argument("--streams", default="1,4,16,64", help="comma list of concurrent robot streams")
    parser.add_argument("--warmup-s", type=float, default=1.0, help="warm-up per case")
    parser.add_argument("--measure-s", type=float, default=4.0, help="measured window per case")
    parser.add_argument("--repeats", type=int, default=1, help="run the thread/aio pair this many times")
    parser.add_argument("--json", default="build/bench-aggregator.json", help="where to write the results")
    return parser


def start_aggregators(fake: str, streams: int) -> dict[str, ServiceProcess]:
    started: dict[str, ServiceProcess] = {}
    try:
        for mode in MODES:
            flags = [
                *("--face-addr", fake, "--yolo-addr", fake, "--server-mode", mode),
                *service_flags(streams),
                *("--engine-timeout-ms", "120000"),
            ]
            started[mode] = start_service(f"aggregator-{mode}", "objectdetection", flags)
    except BaseException:
        for process in started.values():
            process.stop()
        raise
    return started


def _ratio(results: Sequence[CaseResult], streams: int, what: str) -> Ratio | None:
    aio, thread = find(results, "aggregator:aio", streams), find(results, "aggregator:thread", streams)
    if aio is None or thread is None:
        return None
    index = {"frames/s": None, "p50 latency": 0, "p99 latency": 2}[what]
    top, bottom = (
        (aio.fps, thread.fps) if index is None else (aio.latency_ms[index], thread.latency_ms[index])
    )
    value = top / bottom if bottom and not math.isnan(top) else float("nan")
    return Ratio("aio / thread", streams, value, "aggregator:aio", "aggregator:thread", what)


def merge_repeats(results: Sequence[CaseResult]) -> list[CaseResult]:
    """With --repeats, keep the median-frames/s run of each case (outliers of a busy machine drop)."""
    keyed: dict[tuple[str, int], list[CaseResult]] = {}
    for result in results:
        keyed.setdefault((result.case, result.streams), []).append(result)
    return [sorted(runs, key=lambda r: r.fps)[len(runs) // 2] for runs in keyed.values()]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    streams = tuple(int(s) for s in args.streams.split(",") if s.strip())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("liquidedge.localmesh").setLevel(logging.WARNING)
    frames = sample_frames()
    room = service_flags(max(streams))
    quiet = ["--log-level", "WARNING"]
    fake = start_service("fake-detector", "liquidedge.bench.fake_detector", [*room, *quiet])
    results: list[CaseResult] = []
    started = time.perf_counter()
    try:
        aggregators = start_aggregators(fake.address, max(streams))
        try:
            for _repeat in range(args.repeats):
                for n in streams:
                    for mode in MODES:
                        address = aggregators[mode].address
                        result = run_closed_loop(
                            "aggregator",
                            f"aggregator:{mode}",
                            lambda _i, a=address: grpc_stream(a, frames, ("face", "yolo")),
                            streams=n,
                            warmup_s=args.warmup_s,
                            measure_s=args.measure_s,
                        )
                        log.info(
                            "%-18s %3d streams %8.1f frames/s  p50 %6.2f ms  p99 %6.2f ms  errors %d",
                            result.case,
                            n,
                            result.fps,
                            result.p50,
                            result.latency_ms[2],
                            result.errors,
                        )
                        results.append(result)
        finally:
            for process in aggregators.values():
                process.stop()
    finally:
        fake.stop()
    results = merge_repeats(results)
    ratios = [
        ratio
        for n in streams
        for what in ("frames/s", "p50 latency", "p99 latency")
        if (ratio := _ratio(results, n, what)) is not None
    ]
    info = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "detectors": "fake (answers at once, no decode, no inference)",
        "frames": "scikit-image samples, 640x480 JPEG q85",
        "repeats": args.repeats,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print()
    print(" ".join(f"{key}={value}" for key, value in info.items()))
    print()
    print(format_table(results))
    print()
    print(format_ratios(ratios))
    path = Path(args.json)
    write_json(path, info, results, ratios)
    print(f"\nwrote {path}")
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
