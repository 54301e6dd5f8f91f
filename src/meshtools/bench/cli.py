"""`python -m meshtools.bench` (`make bench`, `make bench-short`).

Prints one table (frames/s, latency p50/p95/p99 per case and number of streams), the ratios
against baselines measured in the same run, and writes the same as JSON. A full run also
measures group (d), people named by recognition (`meshtools.bench.people`), and prints
embeddings per second.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2

from liquidedge.config import EnvDefaultsParser
from meshtools.bench.baseline import baseline_ratios, describe_baseline, run_baseline
from meshtools.bench.grpc_cases import NO_SHEDDING, grpc_stream, service_flags
from meshtools.bench.inprocess import InProcessEngines, decode_work, model_only_work
from meshtools.bench.load import CaseResult, Stream, run_closed_loop, run_repeated
from meshtools.bench.people import format_rates, people_ratios, run_people
from meshtools.bench.report import compute_ratios, format_ratios, format_table, write_json
from meshtools.localmesh import LocalMesh, start_service
from meshtools.samples import sample_frames

log = logging.getLogger("meshtools.bench")

FULL_STREAMS = (1, 4, 16, 64)
SHORT_STREAMS = (1, 4)


def parse_streams(text: str) -> tuple[int, ...]:
    values = tuple(int(part) for part in text.split(",") if part.strip())
    if not values or min(values) < 1:
        raise ValueError(f"streams must be positive integers, got {text!r}")
    return values


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, _, flags = text.partition("=")
    if not name.strip() or not flags.strip():
        raise ValueError(f"expected NAME=--flag value ..., got {text!r}")
    return name.strip(), flags.split()


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="meshtools.bench", description=__doc__)
    parser.add_argument("--short", action="store_true", help="a quick run (under a minute on a 2-core CPU)")
    parser.env_flag(
        "--model-dir", "LIQUIDEDGE_MODEL_DIR", default="models", help="where `make models` put YOLO"
    )
    parser.env_flag(
        "--model", "BENCH_MODEL", default="", help="YOLO model; default yolov3 on a GPU, else tiny"
    )
    parser.env_flag(
        "--backend", "BENCH_BACKEND", default="", help="opencv or torch; default torch on a GPU, else opencv"
    )
    parser.env_flag("--device", "BENCH_DEVICE", default="auto", help="auto, cpu or cuda")
    parser.env_flag("--max-batch", "BENCH_MAX_BATCH", default=0, type=int, help="0: the service default")
    parser.env_flag(
        "--max-queue-delay-ms", "BENCH_MAX_QUEUE_DELAY_MS", default=2.0, type=float, help="batching"
    )
    parser.env_flag(
        "--streams",
        "BENCH_STREAMS",
        default="",
        type=str,
        help="comma list (default 1,4,16,64; short 1,4)",
    )
    parser.env_flag(
        "--measure-s", "BENCH_MEASURE_S", default=0.0, type=float, help="window per case (0: auto)"
    )
    parser.env_flag("--json", "BENCH_JSON", default="build/bench.json", help="where to write the results")
    parser.add_argument("--skip-grpc", action="store_true", help="only the in-process cases (a)")
    parser.add_argument(
        "--recognition",
        choices=["auto", "on", "off"],
        default="auto",
        help="group (d), people named with recognition on/off and in the face service or its own: "
        "auto runs it in a full run when dlib's models are fetched (`make recognition-models`)",
    )
    parser.add_argument(
        "--mesh-variant",
        action="append",
        default=[],
        metavar="NAME=FLAGS",
        help="also run the mesh with these extra aggregator flags, e.g. no-retry='--attempts 1'; "
        "prints mesh-NAME / mesh ratios",
    )
    return parser


@dataclass(frozen=True)
class Plan:
    streams: tuple[int, ...]
    warmup_s: float
    measure_s: float
    min_rounds: int
    backend: str
    device: str
    model: str
    random_weights: bool
    max_batch: int
    yolo_flags: list[str]


def make_plan(args: argparse.Namespace) -> Plan:
    from yolodetection.backends.factory import cuda_available

    on_gpu = args.device != "cpu" and cuda_available()
    # On a CPU the YOLO service's own default (auto: OpenVINO where installed, else OpenCV).
    backend = args.backend or ("torch" if on_gpu else "auto")
    model = args.model or ("yolov3" if on_gpu else "yolov3-tiny")
    weights = Path(args.model_dir) / f"{model}.weights"
    random_weights = not weights.is_file()
    if random_weights and backend != "torch":
        raise SystemExit(
            f"{weights} is missing: run `make models`, or use --backend torch for random weights"
        )
    max_batch = args.max_batch or (32 if on_gpu else 8)
    yolo_flags = [
        *("--model-dir", args.model_dir, "--model", model, "--backend", backend, "--device", args.device),
        # Unless asked, the service's own batching default (none with OpenVINO: see docs/cpu.md).
        *(("--max-batch", str(args.max_batch)) if args.max_batch else ()),
        *("--max-queue-delay-ms", str(args.max_queue_delay_ms)),
        *(("--allow-random-weights", "true") if random_weights else ()),
    ]
    streams = parse_streams(args.streams) if args.streams else (SHORT_STREAMS if args.short else FULL_STREAMS)
    measure_s = args.measure_s or (1.0 if args.short else 5.0)
    return Plan(
        streams=streams,
        warmup_s=0.3 if args.short else 1.5,
        measure_s=measure_s,
        min_rounds=1 if args.short else 3,
        backend=backend,
        device="cuda" if on_gpu else "cpu",
        model=model,
        random_weights=random_weights,
        max_batch=max_batch,
        yolo_flags=yolo_flags,
    )


class Runner:
    """Runs cases in order, logging each as it finishes so a long run shows progress."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.results: list[CaseResult] = []

    def streams_case(self, group: str, case: str, open_stream: Callable[[int], Stream], streams: int) -> None:
        result = run_closed_loop(
            group,
            case,
            open_stream,
            streams=streams,
            warmup_s=self.plan.warmup_s,
            measure_s=self.plan.measure_s,
            min_rounds=self.plan.min_rounds,
        )
        self._done(result)

    def repeated_case(self, group: str, case: str, work: Callable[[], int]) -> None:
        result = run_repeated(group, case, work, warmup_s=self.plan.warmup_s, measure_s=self.plan.measure_s)
        self._done(result)

    def _done(self, result: CaseResult) -> None:
        log.info(
            "%-26s %3d streams  %8.1f frames/s  p50 %7.1f ms  errors %d",
            result.case,
            result.streams,
            result.fps,
            result.p50,
            result.errors,
        )
        self.results.append(result)


def run_model_only(runner: Runner, engines: InProcessEngines) -> None:
    plan = runner.plan
    backend = engines.yolo.backend
    for batch in sorted({1, plan.max_batch}):
        runner.repeated_case(
            "a", f"model:batch-{batch}", model_only_work(backend, engines.yolo.input_wh, batch)
        )
    decoder, work = decode_work(engines.frames, 16, plan.device)
    runner.repeated_case("a", f"decode:{decoder}", work)


@dataclass
class Services:
    """The mesh and an unbatched YOLO beside it; idle processes cost no CPU between cases."""

    mesh: Any
    yolo_unbatched: Any | None

    def address(self, name: str) -> str:
        if name == "yolo-unbatched":
            return self.yolo_unbatched.address
        return self.mesh.services[name].address

    def stop(self) -> None:
        if self.yolo_unbatched is not None:
            self.yolo_unbatched.stop()
        self.mesh.stop()


def start_services(plan: Plan, model_dir: str) -> Services:
    room = service_flags(max(plan.streams))
    quiet = ["--log-level", "WARNING"]
    extra = {
        "yolo": [*plan.yolo_flags, *room, *quiet],
        "face": [*room, *quiet],
        # Engine timeouts sized for throughput runs: at 64 CPU streams a frame waits seconds.
        "aggregator": [*NO_SHEDDING, *quiet, "--engine-timeout-ms", "120000"],
    }
    mesh = LocalMesh(model_dir, extra_args=extra).start(timeout_s=300)
    unbatched = None
    try:
        if plan.max_batch > 1:
            flags = [*plan.yolo_flags, "--max-batch", "1", *room, *quiet]
            unbatched = start_service("yolodetection-unbatched", "yolodetection", flags)
    except BaseException:
        mesh.stop()
        raise
    return Services(mesh, unbatched)


def run_streams(
    runner: Runner, engines: InProcessEngines, services: Services | None, frames: Sequence[Any]
) -> None:
    """Each in-process case right before its gRPC twin, so both see the same machine load."""
    plan = runner.plan

    def grpc_case(group: str, case: str, service: str, n: int) -> None:
        if services is not None:
            address = services.address(service)
            runner.streams_case(group, case, lambda _i: grpc_stream(address, frames), n)

    for n in plan.streams:
        runner.streams_case("a", "inproc:yolo-unbatched", lambda _i: engines.engine_stream(engines.yolo), n)
        grpc_case("b", "grpc:yolo-unbatched", "yolo-unbatched", n)
        if engines.yolo_batched is not None:
            runner.streams_case("a", "inproc:yolo", lambda _i: engines.engine_stream(engines.yolo_batched), n)
            grpc_case("b", "grpc:yolo", "yolo", n)
        runner.streams_case("a", "inproc:face", lambda _i: engines.engine_stream(engines.face), n)
        grpc_case("b", "grpc:face", "face", n)
        runner.streams_case("a", "inproc:mesh-work", lambda _i: engines.mesh_stream(), n)
        grpc_case("c", "grpc:mesh", "aggregator", n)


def run_mesh_variants(
    runner: Runner, services: Services, frames: Sequence[Any], variants: Sequence[tuple[str, list[str]]]
) -> None:
    """The aggregator restarted with extra flags (e.g. another retry policy), same backends."""
    mesh = services.mesh
    for name, flags in variants:
        aggregator = mesh.services["aggregator"]
        base = list(aggregator.args)
        aggregator.args.extend(flags)
        mesh.restart("aggregator", timeout_s=120)
        try:
            for n in runner.plan.streams:
                runner.streams_case("c", "grpc:mesh", lambda _i: grpc_stream(mesh.address, frames), n)
                runner.results[-1] = replace(runner.results[-1], case=f"grpc:mesh-{name}")
        finally:
            aggregator.args[:] = base
            mesh.restart("aggregator", timeout_s=120)


def wants_people(args: argparse.Namespace) -> bool:
    """Group (d): asked for, or a full run on a machine with dlib's models fetched."""
    if args.recognition != "auto":
        return args.recognition == "on"
    from facerecognition.model_files import RecognitionModelFiles

    files = RecognitionModelFiles.in_dir(args.model_dir)
    return not args.short and files.predictor.is_file() and files.resnet.is_file()


def describe(plan: Plan) -> dict[str, Any]:
    info: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "yolo_backend": plan.backend,
        "yolo_model": plan.model,
        "yolo_weights": "RANDOM (weights file absent; timings only, detections meaningless)"
        if plan.random_weights
        else "trained",
        "device": plan.device,
        "max_batch": plan.max_batch,
        "streams": list(plan.streams),
        "frames": "scikit-image samples, 640x480 JPEG q85",
    }
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        info["torch"] = None
    return info


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        variants = [parse_variant(v) for v in args.mesh_variant]
        plan = make_plan(args)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("meshtools.localmesh").setLevel(logging.WARNING)
    started = time.perf_counter()
    info = describe(plan)
    if plan.random_weights:
        print(
            f"NOTE: {plan.model} weights are absent: the YOLO network runs with RANDOM weights (timing only)."
        )
    frames = sample_frames()
    engines = InProcessEngines.build(frames, [*plan.yolo_flags, "--log-level", "WARNING"], [])
    info["yolo_runs"] = f"{engines.yolo.backend.name} {getattr(engines.yolo.backend, 'precision', 'fp32')}"
    runner = Runner(plan)
    services = None
    rates: dict[str, Any] = {}
    try:
        run_model_only(runner, engines)
        services = None if args.skip_grpc else start_services(plan, args.model_dir)
        run_baseline(runner, frames, args.model_dir)
        run_streams(runner, engines, services, frames)
        if services is not None:
            run_mesh_variants(runner, services, frames, variants)
            if wants_people(args):
                face, yolo = services.address("face"), services.address("yolo")
                rates = run_people(runner.streams_case, args.model_dir, face, yolo, quick=args.short)
    finally:
        engines.close()
        if services is not None:
            services.stop()
    ratios = compute_ratios(
        runner.results, plan.streams, max_batch=plan.max_batch, mesh_variants=[name for name, _ in variants]
    ) + baseline_ratios(runner.results)
    ratios += people_ratios(runner.results)
    info.update(describe_baseline())
    info["wall_s"] = round(time.perf_counter() - started, 1)
    print()
    print(" ".join(f"{key}={value}" for key, value in info.items()))
    print()
    print(format_table(runner.results))
    print()
    print(format_ratios(ratios))
    if rates:
        print()
        print(format_rates(rates))
    path = Path(args.json)
    write_json(path, {**info, "embeddings": rates} if rates else info, runner.results, ratios)
    print(f"\nwrote {path}")
    return 1 if any(r.errors for r in runner.results) else 0
