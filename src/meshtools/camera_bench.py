"""Load benchmark of the camera gateway: N emulated cameras at F fps each through the real mesh.

The mesh (face, YOLO, aggregator) and the gateway run as processes, as in production; the
cameras are emulated in this process and stamp each frame with its capture time
(`X-Timestamp`, as the ESP32-CAM does). A dashboard client in this process reads the
gateway's live events, so "latency" is capture to dashboard: from the camera stamping the
frame to the browser-side feed receiving its answer (same machine, same clock).

Two phases in one run: a baseline with one camera alone, then all N together. Printed per
camera: frames/s delivered to the dashboard, drop rate (frames the camera served that were
never answered: the gateway sends only the newest and at most --max-fps), latency p50/p95;
and fairness = the slowest camera's delivered fps / the mean. Ratios compare against the
baseline measured in the same run.

    python -m meshtools.camera_bench --cameras 8 --fps 5 --seconds 30
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import statistics
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cameragateway.camera import nearest_rank
from meshtools.camera_emulator import CameraEmulator, load_frames, register
from meshtools.cameras_demo import wait_ready
from meshtools.localmesh import LocalMesh, free_port, start_process

log = logging.getLogger("meshtools.camera_bench")


class EventTap:
    """The dashboard's event feed, read on a thread: per source, (receive time, event)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: dict[str, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-tap", daemon=True)

    def start(self) -> EventTap:
        self._thread.start()
        return self

    def _run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", "/api/events")
        response = connection.getresponse()
        kind, data = "", ""
        while not self._stop.is_set():
            try:
                line = response.readline().decode()
            except TimeoutError:
                continue
            if not line:
                return
            line = line.rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif not line and data:
                if kind == "answer":
                    event = json.loads(data)
                    with self._lock:
                        self.answers[event["source"]].append((time.time(), event))
                kind, data = "", ""

    def window(self, start: float, end: float) -> dict[str, list[tuple[float, dict[str, Any]]]]:
        with self._lock:
            return {s: [(t, e) for t, e in rows if start <= t < end] for s, rows in self.answers.items()}

    def stop(self) -> None:
        self._stop.set()


@dataclass
class CameraFigures:
    camera: str
    delivered_fps: float
    served_fps: float
    drop_rate: float
    latency_p50_ms: float
    latency_p95_ms: float


def percentile(values: list[float], q: float) -> float:
    """The gateway's own nearest-rank quantile (what its dashboard shows); nan for the table when empty."""
    found = nearest_rank(sorted(values), q)
    return float("nan") if found is None else found


def measure(
    gateway_port: int, tap: EventTap, cameras: dict[str, CameraEmulator], warmup_s: float, seconds: float
) -> list[CameraFigures]:
    time.sleep(warmup_s)
    sent_before = {cid: cam.frames_sent for cid, cam in cameras.items()}
    start = time.time()
    time.sleep(seconds)
    end = time.time()
    sent = {cid: cam.frames_sent - sent_before[cid] for cid, cam in cameras.items()}
    rows = tap.window(start, end)
    figures = []
    for cid in cameras:
        answers = rows.get(cid, [])
        latencies = [(t - e["capture_time_us"] / 1e6) * 1000 for t, e in answers]
        figures.append(
            CameraFigures(
                camera=cid,
                delivered_fps=len(answers) / seconds,
                served_fps=sent[cid] / seconds,
                drop_rate=1.0 - len(answers) / sent[cid] if sent[cid] else float("nan"),
                latency_p50_ms=percentile(latencies, 0.5),
                latency_p95_ms=percentile(latencies, 0.95),
            )
        )
    return figures


def summary(figures: list[CameraFigures]) -> dict[str, float]:
    fps = [f.delivered_fps for f in figures]
    mean = statistics.fmean(fps)
    return {
        "cameras": len(figures),
        "mean_delivered_fps": mean,
        "total_delivered_fps": sum(fps),
        "fairness_min_over_mean": (min(fps) / mean) if mean else float("nan"),
        "mean_drop_rate": statistics.fmean(f.drop_rate for f in figures),
        "latency_p50_ms": statistics.median(f.latency_p50_ms for f in figures),
        "latency_p95_ms": max(f.latency_p95_ms for f in figures),
    }


def print_phase(title: str, figures: list[CameraFigures]) -> None:
    print(f"\n{title}")
    print(
        f"  {'camera':<8} {'served fps':>10} {'delivered fps':>14} {'drop rate':>10} {'p50 ms':>8} {'p95 ms':>8}"
    )
    for f in figures:
        print(
            f"  {f.camera:<8} {f.served_fps:>10.2f} {f.delivered_fps:>14.2f} {f.drop_rate:>10.1%}"
            f" {f.latency_p50_ms:>8.0f} {f.latency_p95_ms:>8.0f}"
        )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="camera-bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model-dir", default=os.environ.get("LIQUIDEDGE_MODEL_DIR", "models"))
    p.add_argument("--cameras", type=int, default=8, help="cameras in the loaded phase")
    p.add_argument("--fps", type=float, default=5.0, help="frames per second each camera serves")
    p.add_argument("--max-fps", type=float, default=5.0, help="the gateway's --max-fps per camera")
    p.add_argument("--seconds", type=float, default=30.0, help="measured time per phase")
    p.add_argument("--warmup", type=float, default=10.0, help="unmeasured time before each phase")
    p.add_argument("--gateway-arg", action="append", default=[], help="extra gateway flag (repeatable)")
    p.add_argument("--json", default="build/camera-bench.json", help="write the figures here ('' = no)")
    return p


def run_phase(
    port: int,
    tap: EventTap,
    frames: list[bytes],
    count: int,
    args: argparse.Namespace,
    token: str,
    prefix: str,
) -> list[CameraFigures]:
    cameras = {f"{prefix}{i + 1}": CameraEmulator(frames, fps=args.fps).start() for i in range(count)}
    try:
        for cid, camera in cameras.items():
            register(f"http://127.0.0.1:{port}", token, camera.address, cid)
        return measure(port, tap, cameras, args.warmup, args.seconds)
    finally:
        for camera in cameras.values():
            camera.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    tokens = Path("build/camera-bench-tokens.txt")
    tokens.parent.mkdir(parents=True, exist_ok=True)
    tokens.write_text("bench-token\n")
    frames = load_frames("samples:astronaut,camera,coffee,chelsea,rocket")
    port = free_port()
    with contextlib.ExitStack() as stack:
        mesh = LocalMesh(model_dir=args.model_dir).start()
        stack.callback(mesh.stop)
        start_process(
            stack,
            [
                sys.executable, "-m", "cameragateway", "--port", str(port), "--metrics-port", "-1",
                "--mesh-addr", mesh.address, "--camera-tokens-file", str(tokens),
                "--max-fps", str(args.max_fps), "--log-level", "WARNING", "--log-format", "text",
                *args.gateway_arg,
            ],
        )  # fmt: skip
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        tap = EventTap(port).start()
        stack.callback(tap.stop)
        print(
            f"camera gateway load benchmark: {args.cameras} cameras at {args.fps:g} fps, max {args.max_fps:g} fps each, "
            f"{args.seconds:g} s measured per phase after {args.warmup:g} s warm-up, {os.cpu_count()} CPUs"
        )
        baseline = run_phase(port, tap, frames, 1, args, "bench-token", "solo")
        print_phase("baseline: one camera alone", baseline)
        loaded = run_phase(port, tap, frames, args.cameras, args, "bench-token", "cam")
        print_phase(f"loaded: {args.cameras} cameras together", loaded)
    base, load = summary(baseline), summary(loaded)
    print("\nsummary                         baseline     loaded   ratio")
    for key, label in (
        ("mean_delivered_fps", "delivered fps per camera"),
        ("total_delivered_fps", "delivered fps, all cameras"),
        ("mean_drop_rate", "drop rate"),
        ("latency_p50_ms", "capture-to-dashboard p50 ms"),
        ("latency_p95_ms", "capture-to-dashboard p95 ms"),
        ("fairness_min_over_mean", "fairness (slowest / mean)"),
    ):
        ratio = load[key] / base[key] if base[key] else float("nan")
        print(f"  {label:<30} {base[key]:>8.2f} {load[key]:>10.2f} {ratio:>7.2f}x")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {
                    "args": {k: v for k, v in vars(args).items() if k != "json"},
                    "baseline": {"summary": base, "cameras": [vars(f) for f in baseline]},
                    "loaded": {"summary": load, "cameras": [vars(f) for f in loaded]},
                },
                indent=2,
            )
        )
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
