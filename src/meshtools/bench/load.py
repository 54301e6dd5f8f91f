"""Closed-loop load: N streams, each sending its next frame when the previous one is answered.

That is how a robot drives the mesh (one frame in flight per robot), so frames/s at N streams
is what N robots get, and latency is the round trip one robot sees.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from liquidedge.stats import percentiles_ms

# A stream is built once per stream (its own channel, say) and then called once per frame
# with the frame's index; `close` releases what it holds.
SendFrame = Callable[[int], Any]


@dataclass
class Stream:
    send: SendFrame
    close: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class CaseResult:
    """One measured case. Latencies in milliseconds; frames/s over the measured window."""

    group: str
    case: str
    streams: int
    frames: int
    seconds: float
    errors: int
    latency_ms: tuple[float, float, float]  # p50, p95, p99
    first_error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def p50(self) -> float:
        return self.latency_ms[0]

    def as_dict(self) -> dict[str, Any]:
        p50, p95, p99 = (None if math.isnan(v) else round(v, 2) for v in self.latency_ms)
        return {
            "group": self.group,
            "case": self.case,
            "streams": self.streams,
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "frames_per_s": round(self.fps, 2),
            "latency_ms": {"p50": p50, "p95": p95, "p99": p99},
            "errors": self.errors,
            "first_error": self.first_error,
            **({"extra": self.extra} if self.extra else {}),
        }


def percentiles(latencies_s: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 in milliseconds (`liquidedge.stats`), NaN without samples (the table's `-`)."""
    p50, p95, p99 = (math.nan if v is None else v for v in percentiles_ms(latencies_s).values())
    return p50, p95, p99


def run_closed_loop(
    group: str,
    case: str,
    open_stream: Callable[[int], Stream],
    *,
    streams: int,
    warmup_s: float,
    measure_s: float,
    max_measure_s: float | None = None,
    min_rounds: int = 2,
    clock: Callable[[], float] = time.perf_counter,
) -> CaseResult:
    """Run `streams` threads and measure the frames answered inside a window.

    Warm-up lasts `warmup_s` and until every stream has had an answer (the pipeline is
    full). The window lasts `measure_s` and, up to `max_measure_s`, until `min_rounds`
    frames per stream were answered, so slow many-stream cases still count whole rounds.
    """
    max_measure_s = max(measure_s, max_measure_s or 4 * measure_s)
    opened = [open_stream(i) for i in range(streams)]
    start_gate = threading.Barrier(streams + 1)
    stop = threading.Event()
    lock = threading.Lock()
    done: list[tuple[float, float, str]] = []  # (ended, latency, error)
    answered = [0] * streams

    def drive(stream: Stream, index: int) -> None:
        start_gate.wait()
        frame = index
        while not stop.is_set():
            began = clock()
            try:
                stream.send(frame)
                failed = ""
            except Exception as error:  # counted and reported, never hidden
                failed = f"{type(error).__name__}: {error}"[:300]
            ended = clock()
            frame += streams
            with lock:
                done.append((ended, ended - began, failed))
                answered[index] += 1

    threads = [threading.Thread(target=drive, args=(s, i), daemon=True) for i, s in enumerate(opened)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = clock()
    while clock() - began < warmup_s or (min(answered) == 0 and clock() - began < warmup_s + max_measure_s):
        time.sleep(0.02)
    window_start = clock()
    with lock:
        before = len(done)
    while True:
        time.sleep(0.02)
        elapsed = clock() - window_start
        with lock:
            in_window = len(done) - before
        if elapsed >= max_measure_s or (elapsed >= measure_s and in_window >= min_rounds * streams):
            break
    window_end = clock()
    stop.set()
    for thread in threads:
        thread.join(120)
    for stream in opened:
        stream.close()
    measured = [(lat, err) for ended, lat, err in done if window_start <= ended <= window_end]
    latencies = [lat for lat, err in measured if not err]
    errors = [err for _, err in measured if err]
    return CaseResult(
        group=group,
        case=case,
        streams=streams,
        frames=len(latencies),
        seconds=window_end - window_start,
        errors=len(errors),
        latency_ms=percentiles(latencies),
        first_error=errors[0] if errors else "",
    )


def run_repeated(
    group: str, case: str, work: Callable[[], int], *, warmup_s: float, measure_s: float
) -> CaseResult:
    """One thread calling `work` (which returns frames done) back to back: model-only timings."""
    deadline = time.perf_counter() + warmup_s
    while time.perf_counter() < deadline:
        work()
    latencies: list[float] = []
    frames = 0
    began = time.perf_counter()
    while time.perf_counter() - began < measure_s or not latencies:
        start = time.perf_counter()
        frames += work()
        latencies.append(time.perf_counter() - start)
    elapsed = time.perf_counter() - began
    return CaseResult(group, case, 1, frames, elapsed, 0, percentiles(latencies))
