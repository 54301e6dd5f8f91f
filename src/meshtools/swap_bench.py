"""`make swap-bench`: a new YOLO version swapped in under load, and broken versions refused.

The real mesh (face, YOLO, aggregator as processes) runs with YOLO served from a model store's
`production` channel. Lock-step streams (`liquidedge.lockstep`, one frame in flight each, as
robots send) run throughout. The bench measures the round trip before, promotes a retrained
YOLO version, and measures until every answer carries it; then it promotes three broken
versions one after the other (bad checksum, truncated weights, wrong class count), each of
which must be refused while the retrained version keeps serving. The versions are published
before the streams start: in production a trainer or CI machine publishes, not the edge node
that serves, so only the promotion (a channel move) happens under load here.

Checks (exit status 1 when one is missed): no failed frame; p99 while swapping at most twice
the p99 before; every answer at most 10 s after the promotion carries the new version; each
broken version refused (counted in `liquidedge_model_swaps_total{outcome="refused"}`) with the
retrained version still answering; health SERVING throughout.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from grpc_health.v1 import health_pb2
from prometheus_client.parser import text_string_to_metric_families

from liquidedge.config import EnvDefaultsParser
from liquidedge.lockstep import OK, FrameOptions, LockstepClient
from liquidedge.stats import percentiles_ms
from meshtools.localmesh import LocalMesh, free_port
from meshtools.samples import sample_frames
from meshtools.swap_versions import MODEL, publish_swap_versions
from modelstore import open_store

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
MAX_SWITCH_S = 10.0
MAX_P99_RATIO = 2.0


@dataclass(frozen=True)
class Answer:
    """One frame: when it was sent and answered (monotonic s), how, and which YOLO version made it."""

    stream: int
    sent_s: float
    done_s: float
    code: str
    rtt_s: float
    version: str


class Streams:
    """`count` lock-step streams to `address`, each in its own thread, recording every frame."""

    def __init__(self, address: str, frames: Sequence[bytes], count: int, options: FrameOptions) -> None:
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i, address, frames, options), daemon=True)
            for i in range(count)
        ]

    def _run(self, index: int, address: str, frames: Sequence[bytes], options: FrameOptions) -> None:
        with LockstepClient.to(address, options=options, wait_s=30.0) as client:
            number = 0
            while not self._stop.is_set():
                outcome = client.send(frames[(number + index) % len(frames)])
                number += 1
                yolo = outcome.engines.get("yolo")
                version = yolo.model_version if yolo is not None else ""
                code = outcome.code if not outcome.partial else ",".join(outcome.partial)
                answer = Answer(index, outcome.sent_s, outcome.done_s, code, outcome.rtt_s, version)
                with self._lock:
                    self.answers.append(answer)

    def start(self) -> Streams:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60.0)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)

    def wait_until(self, predicate: Callable[[list[Answer]], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return True
            time.sleep(0.1)
        return predicate(self.snapshot())


class HealthWatch:
    """Probes the health of each address every `interval_s`; remembers every answer not SERVING."""

    def __init__(self, addresses: dict[str, str], interval_s: float = 0.25) -> None:
        self.addresses = addresses
        self.interval_s = interval_s
        self.probes = 0
        self.not_serving: list[tuple[str, float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import grpc
        from grpc_health.v1 import health_pb2_grpc

        channels = {name: grpc.insecure_channel(address) for name, address in self.addresses.items()}
        try:
            while not self._stop.wait(self.interval_s):
                for name, channel in channels.items():
                    try:
                        status = (
                            health_pb2_grpc.HealthStub(channel)
                            .Check(health_pb2.HealthCheckRequest(), timeout=2.0)
                            .status
                        )
                        said = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
                    except grpc.RpcError as error:
                        status, said = None, error.code().name
                    self.probes += 1
                    if status != SERVING:
                        self.not_serving.append((name, time.monotonic(), said))
        finally:
            for channel in channels.values():
                channel.close()

    def start(self) -> HealthWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10.0)


def refused_count(metrics_port: int) -> float:
    """`liquidedge_model_swaps_total{outcome="refused"}` of the YOLO service."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "liquidedge_model_swaps_total" and sample.labels.get("outcome") == "refused"
    )


# -- the figures and the verdict (pure: tested without a mesh) ---------------------------------


def p99_ms(answers: Sequence[Answer]) -> float | None:
    return percentiles_ms([a.rtt_s for a in answers if a.code == OK], (99,), 1)["p99"]


def sent_between(answers: Sequence[Answer], start_s: float, end_s: float) -> list[Answer]:
    return [a for a in answers if start_s <= a.sent_s < end_s]


def switch_s(answers: Sequence[Answer], promoted_s: float, new_version: str) -> float | None:
    """Seconds from the promotion to the last answer made by another version (0: none after it);
    None when no answer from the new version came at all."""
    after = [a for a in answers if a.done_s >= promoted_s and a.code == OK]
    if not any(a.version == new_version for a in after):
        return None
    old = [a.done_s for a in after if a.version != new_version]
    return max(old) - promoted_s if old else 0.0


@dataclass
class Check:
    name: str
    passed: bool
    figure: str
    timed: bool = False  # a speed criterion: the bench judges it, a test does not


@dataclass
class Marks:
    """When each phase began (monotonic s), and what the YOLO service counted."""

    baseline_s: float
    promoted_s: float
    switched_s: float
    broken: dict[str, tuple[float, float, bool]] = field(default_factory=dict)  # promoted, ended, refused
    ended_s: float = 0.0


def judge(
    answers: Sequence[Answer],
    marks: Marks,
    versions: tuple[str, str],
    not_serving: Sequence[tuple[str, float, str]],
    *,
    settle_s: float = 2.0,
) -> tuple[list[Check], dict[str, Any]]:
    """The checks and the figures of a run: `versions` is (before, after) the promotion."""
    before, after = versions
    measured = [a for a in answers if a.sent_s >= marks.baseline_s]
    failed = [a for a in measured if a.code != OK]
    baseline = sent_between(measured, marks.baseline_s, marks.promoted_s)
    swap = sent_between(measured, marks.promoted_s, marks.switched_s + settle_s)
    first_broken = min((p for p, _e, _r in marks.broken.values()), default=marks.ended_s)
    settled = sent_between(measured, marks.switched_s + settle_s, first_broken)
    p99_before, p99_swap = p99_ms(baseline), p99_ms(swap)
    ratio = None if not p99_before or p99_swap is None else round(p99_swap / p99_before, 2)
    to_new = switch_s(measured, marks.promoted_s, after)
    stale = [
        a
        for a in measured
        if a.sent_s >= marks.promoted_s + MAX_SWITCH_S and a.code == OK and a.version != after
    ]
    checks = [
        Check("no failed frame", not failed, f"{len(failed)} failed of {len(measured)}"),
        Check(
            f"p99 while swapping <= {MAX_P99_RATIO:g}x p99 before",
            ratio is not None and ratio <= MAX_P99_RATIO,
            f"{p99_swap} ms vs {p99_before} ms: {ratio}x",
            timed=True,
        ),
        Check(
            "every answer carries the new version",
            to_new is not None and not [a for a in settled if a.code == OK and a.version != after],
            f"last answer from {before} {to_new if to_new is None else round(to_new, 2)} s after the promotion",
        ),
        Check(
            f"... at most {MAX_SWITCH_S:g} s after the promotion",
            to_new is not None and to_new <= MAX_SWITCH_S and not stale,
            f"{'never' if to_new is None else f'{to_new:.2f} s'}; {len(stale)} later answers from another version",
            timed=True,
        ),
    ]
    broken_figures = {}
    for kind, (promoted_s, ended_s, refused) in marks.broken.items():
        during = sent_between(measured, promoted_s, ended_s)
        strays = [a for a in during if a.code == OK and a.version != after]
        checks.append(
            Check(
                f"{kind} refused, {after} still serving",
                refused and bool(during) and not strays,
                f"refused: {refused}; {len(during)} answers while it was promoted, {len(strays)} from another version",
            )
        )
        broken_figures[kind] = {"refused": refused, "answers": len(during), "p99_ms": p99_ms(during)}
    checks.append(
        Check(
            "health SERVING throughout",
            not not_serving,
            "always" if not not_serving else f"{len(not_serving)} probes not SERVING: {not_serving[:3]}",
        )
    )
    span_s = max(a.done_s for a in measured) - marks.baseline_s if measured else 0.0
    figures = {
        "frames": len(measured),
        "failed": len(failed),
        "frames_per_s": round(len(measured) / span_s, 2) if span_s > 0 else None,
        "before": {
            "frames": len(baseline),
            **percentiles_ms([a.rtt_s for a in baseline if a.code == OK], digits=1),
        },
        "swap": {"frames": len(swap), **percentiles_ms([a.rtt_s for a in swap if a.code == OK], digits=1)},
        "after": {
            "frames": len(settled),
            **percentiles_ms([a.rtt_s for a in settled if a.code == OK], digits=1),
        },
        "p99_ratio": ratio,
        "switch_s": None if to_new is None else round(to_new, 3),
        "broken": broken_figures,
    }
    return checks, figures


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchSettings:
    model_dir: Path
    streams: int = 4
    engines: tuple[str, ...] = ("face", "yolo")
    warmup_s: float = 5.0
    baseline_s: float = 20.0
    after_s: float = 10.0
    refuse_timeout_s: float = 60.0
    broken_s: float = 3.0
    poll_s: float = 1.0
    work_dir: Path | None = None


@dataclass
class BenchResult:
    checks: list[Check]
    figures: dict[str, Any]
    versions: dict[str, Any]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


def seed_converted(model_dir: Path, dest: Path) -> Path:
    """A converted cache holding only the embedded model's conversion (made once in
    `<model-dir>/converted`, as `make convert` does): the retrained version is converted while
    the bench measures, every run."""
    from yolodetection.backends.onnx_model import converted_dir
    from yolodetection.model_files import ModelFiles
    from yolodetection.onnx_export import ensure_onnx

    embedded = ensure_onnx(ModelFiles.in_dir(model_dir), converted_dir(model_dir))
    shutil.copytree(embedded.path, dest / embedded.path.name)
    return dest


def run_bench(settings: BenchSettings, *, say: Callable[[str], None] = lambda _line: None) -> BenchResult:
    with tempfile.TemporaryDirectory(prefix="swap-bench-") as scratch:
        work = settings.work_dir or Path(scratch)
        store_root = work / "store"
        store = open_store(str(store_root))
        started = time.monotonic()
        versions = publish_swap_versions(store, store_root, settings.model_dir, work / "versions")
        say(f"published {MODEL}: embedded {versions.embedded}, retrained {versions.retrained}, "
            f"broken {', '.join(versions.broken.values())} ({time.monotonic() - started:.1f} s)")  # fmt: skip
        metrics_port = free_port()
        converted = seed_converted(settings.model_dir, work / "converted")
        yolo_args = [
            "--model-store", str(store_root), "--model-cache-dir", str(work / "cache"),
            "--converted-dir", str(converted), "--model-poll-s", str(settings.poll_s),
            "--metrics-port", str(metrics_port),
        ]  # fmt: skip
        quiet = ["--log-level", "WARNING"]
        extra = {"yolo": [*quiet, *yolo_args], "face": quiet, "aggregator": quiet}
        mesh = LocalMesh(str(settings.model_dir), extra_args=extra)
        started = time.monotonic()
        mesh.start(timeout_s=180.0)
        try:
            say(f"mesh up with YOLO from the store ({time.monotonic() - started:.1f} s)")
            marks, answers, not_serving = _drive(
                settings, mesh, store, versions.retrained, versions.broken, metrics_port, say
            )
        finally:
            mesh.stop()
    checks, figures = judge(answers, marks, (versions.embedded, versions.retrained), not_serving)
    return BenchResult(checks, figures, asdict(versions))


def _drive(
    settings: BenchSettings,
    mesh: LocalMesh,
    store: Any,
    retrained: str,
    broken: dict[str, str],
    metrics_port: int,
    say: Callable[[str], None],
) -> tuple[Marks, list[Answer], list[tuple[str, float, str]]]:
    frames = [frame.jpeg for frame in sample_frames()]
    options = FrameOptions(source_id="swap-bench", engines=settings.engines)
    health = HealthWatch({"yolo": mesh.services["yolo"].address, "aggregator": mesh.address}).start()
    streams = Streams(mesh.address, frames, settings.streams, options).start()
    try:
        time.sleep(settings.warmup_s)
        baseline_s = time.monotonic()
        time.sleep(settings.baseline_s)
        promoted_s = time.monotonic()
        store.promote(MODEL, retrained, note="swap bench")
        say(f"promoted {retrained} after {settings.baseline_s:g} s of baseline")
        streams.wait_until(
            lambda answers: (
                switch_s(answers, promoted_s, retrained) is not None
                and any(a.version == retrained for a in answers[-settings.streams :])
            ),
            settings.refuse_timeout_s,
        )
        switched = switch_s(streams.snapshot(), promoted_s, retrained)
        switched_s = promoted_s + (switched if switched is not None else settings.refuse_timeout_s)
        waited = "not within the wait" if switched is None else f"{switched:.2f} s after the promotion"
        say(f"every stream on {retrained}: {waited}")
        time.sleep(settings.after_s)
        marks = Marks(baseline_s, promoted_s, switched_s)
        for kind, version in broken.items():
            refused_before = refused_count(metrics_port)
            promoted = time.monotonic()
            store.promote(MODEL, version, note=f"swap bench: {kind}")
            deadline = promoted + settings.refuse_timeout_s
            while refused_count(metrics_port) <= refused_before and time.monotonic() < deadline:
                time.sleep(0.1)
            refused = refused_count(metrics_port) > refused_before
            say(f"{kind} ({version}): {'refused' if refused else 'NOT refused'} "
                f"{time.monotonic() - promoted:.2f} s after its promotion")  # fmt: skip
            time.sleep(settings.broken_s)
            marks.broken[kind] = (promoted, time.monotonic(), refused)
        marks.ended_s = time.monotonic()
    finally:
        streams.stop()
        health.stop()
    return marks, streams.snapshot(), health.not_serving


def format_report(result: BenchResult) -> str:
    f = result.figures
    lines = [
        f"frames {f['frames']} ({f['frames_per_s']} frames/s), failed {f['failed']}",
        "round trip ms          frames   p50     p95     p99",
    ]
    for phase in ("before", "swap", "after"):
        p = f[phase]
        lines.append(f"  {phase:<20} {p['frames']:>6} {p['p50']!s:>7} {p['p95']!s:>7} {p['p99']!s:>7}")
    lines.append(f"p99 while swapping / before: {f['p99_ratio']}x (limit {MAX_P99_RATIO:g}x)")
    lines.append(
        f"new version on every answer {f['switch_s']} s after the promotion (limit {MAX_SWITCH_S:g} s)"
    )
    for kind, figures in f["broken"].items():
        lines.append(f"  {kind:<20} refused {figures['refused']}, {figures['answers']} answers meanwhile, "
                     f"p99 {figures['p99_ms']} ms")  # fmt: skip
    for check in result.checks:
        lines.append(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.figure}")
    return "\n".join(lines)


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="python -m meshtools.swap_bench", description=__doc__.splitlines()[0])
    parser.env_flag(
        "--model-dir", "LIQUIDEDGE_MODEL_DIR", default="models", help="where `make models` put YOLO"
    )
    parser.env_flag("--streams", "SWAP_STREAMS", default=4, type=int, help="lock-step streams")
    parser.env_flag("--engines", "SWAP_ENGINES", default="face,yolo", help="engines each frame asks for")
    parser.env_flag("--warmup-s", "SWAP_WARMUP_S", default=5.0, type=float, help="not measured")
    parser.env_flag("--baseline-s", "SWAP_BASELINE_S", default=20.0, type=float, help="measured before")
    parser.env_flag("--after-s", "SWAP_AFTER_S", default=10.0, type=float, help="measured after the swap")
    parser.env_flag("--json", "SWAP_JSON", default="", help="write the figures and checks here as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = BenchSettings(
        model_dir=Path(args.model_dir),
        streams=args.streams,
        engines=tuple(e for e in args.engines.split(",") if e),
        warmup_s=args.warmup_s,
        baseline_s=args.baseline_s,
        after_s=args.after_s,
    )
    result = run_bench(settings, say=lambda line: print(line, flush=True))
    print(format_report(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        document = {
            "figures": result.figures,
            "checks": [asdict(c) for c in result.checks],
            "versions": result.versions,
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
