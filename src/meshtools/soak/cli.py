"""`python -m meshtools.soak` / `make soak`: bounded soak and load run against the mesh.

Prints a table (throughput, latency percentiles of admitted frames, refusals by code, RSS of
each service after warm-up and at the end) and writes the full figures as JSON with --json.
Exit status: 0 when the run completed with every service alive, no UNKNOWN or INTERNAL
answer and at least one frame answered; 1 otherwise; 2 for bad flags.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from liquidedge.config import EnvDefaultsParser
from meshtools.soak.report import format_table
from meshtools.soak.runner import SoakConfig, run_soak
from meshtools.soak.traffic import MODES

SERVICES = ("face", "yolo", "aggregator")


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="python -m meshtools.soak", description=__doc__.splitlines()[0])
    parser.env_flag(
        "--seconds", "SOAK_SECONDS", default=60.0, type=float, help="measured time (after warm-up)"
    )
    parser.env_flag("--streams", "SOAK_STREAMS", default=8, type=int, help="concurrent robots at ramp step 1")
    parser.env_flag(
        "--ramp",
        "SOAK_RAMP",
        default="1",
        help="load steps as multiples of --streams, e.g. '1,2' = N robots, then 2N; time is split evenly",
    )
    parser.env_flag(
        "--warmup", "SOAK_WARMUP_S", default=10.0, type=float, help="warm-up seconds, not measured"
    )
    parser.env_flag(
        "--mode",
        "SOAK_MODE",
        default="stream",
        choices=list(MODES),
        help="stream: v1 DetectStream in lock-step; unary: v1 Detect loops; legacy: ObjectDetect loops",
    )
    parser.env_flag("--deadline-ms", "SOAK_DEADLINE_MS", default=2000, type=int, help="per-frame deadline")
    parser.env_flag(
        "--fps",
        "SOAK_FPS",
        default=30.0,
        type=float,
        help="each robot's camera rate: at most this many frames/s, shed frames included (0 = flat out)",
    )
    parser.env_flag(
        "--target",
        "SOAK_TARGET",
        default="",
        help="address of a running aggregator (default: start the local mesh)",
    )
    parser.env_flag(
        "--model-dir", "LIQUIDEDGE_MODEL_DIR", default="models", help="YOLO model for the local mesh"
    )
    parser.env_flag(
        "--service-log-level",
        "SOAK_SERVICE_LOG_LEVEL",
        default="ERROR",
        help="log level of the mesh's services",
    )
    parser.add_argument(
        "--service-arg",
        action="append",
        default=[],
        metavar="SERVICE=FLAG",
        help="extra flag for a local-mesh service, e.g. yolo=--max-in-flight=4 (repeatable; "
        f"services: {', '.join(SERVICES)})",
    )
    parser.add_argument(
        "--watch-pid",
        action="append",
        default=[],
        metavar="NAME=PID",
        help="also sample this process's RSS (for --target runs)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    parser.add_argument("--frames-size", default="640x480", help="size of the sample frames sent, WxH")
    return parser


def parse_pairs(values: Sequence[str], what: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise ValueError(f"{what} expects NAME=VALUE, got {value!r}")
        pairs.append((name.strip(), rest))
    return pairs


def config_from_args(args: object) -> SoakConfig:
    service_args: dict[str, list[str]] = {}
    if not args.target:
        for name in SERVICES:
            service_args[name] = [f"--log-level={args.service_log_level}"]
    for name, flag in parse_pairs(args.service_arg, "--service-arg"):
        if name not in SERVICES:
            raise ValueError(f"--service-arg: unknown service {name!r}; expected one of {SERVICES}")
        service_args.setdefault(name, []).append(flag)
    watch = {name: int(pid) for name, pid in parse_pairs(args.watch_pid, "--watch-pid")}
    ramp = tuple(float(step) for step in args.ramp.split(",") if step.strip())
    return SoakConfig(
        seconds=args.seconds,
        streams=args.streams,
        ramp=ramp,
        warmup_s=args.warmup,
        mode=args.mode,
        deadline_ms=args.deadline_ms,
        fps=args.fps,
        target=args.target or None,
        model_dir=args.model_dir,
        service_args=service_args,
        watch_pids=watch,
    )


def load_frames(size: str) -> list[bytes]:
    from meshtools.samples import sample_frames  # needs scikit-image (demo/dev extra)

    width, _, height = size.partition("x")
    return [frame.jpeg for frame in sample_frames(size_wh=(int(width), int(height)))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        frames = load_frames(args.frames_size)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = run_soak(config, frames)
    print(format_table(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"report written to {args.json}")
    checks = report["checks"]
    healthy = (
        checks["processes_alive"]
        and checks["unknown_or_internal"] == 0
        and not checks["robot_errors"]
        and report["total"]["answered"] > 0
    )
    return 0 if healthy else 1
