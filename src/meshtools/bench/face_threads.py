"""`python -m meshtools.bench.face_threads` (`make face-threads`): OpenCV's threads vs face CPU.

OpenCV splits one `detectMultiScale` over a thread per core; when several frames overlap the
split adds hand-offs rather than speed. This prints, for each thread count, the face engine's
frames/s, process CPU per frame and median time per frame with 1 and with 4 callers (decode
included, the service's default settings, the scikit-image sample frames), so an operator can
choose `FACE_OPENCV_THREADS` for a pod's load. Thread counts are set between passes, never
while a frame runs (OpenCV's setting is process-wide).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2

from facedetection.engine import FaceEngine, FaceSettings
from liquidedge.imaging import ImageLimits, decode_jpeg
from liquidedge.stats import percentile_ms
from meshtools.samples import sample_frames


@dataclass(frozen=True)
class Pass:
    threads: int
    callers: int
    frames: int
    fps: float
    cpu_ms: float
    p50_ms: float


def measure(
    engine: FaceEngine, jpegs: Sequence[bytes], callers: int, seconds: float
) -> tuple[int, float, float, float]:
    """(frames, wall s, CPU s, p50 ms) of `callers` threads detecting back to back for `seconds`."""
    limits = ImageLimits()
    times: list[float] = []
    done = threading.Lock()
    end = time.perf_counter() + seconds

    def work(offset: int) -> None:
        for index in itertools.count(offset, callers):
            if time.perf_counter() >= end:
                return
            started = time.perf_counter()
            engine.detect(decode_jpeg(jpegs[index % len(jpegs)], limits).image_bgr)
            with done:
                times.append(time.perf_counter() - started)

    cpu, wall = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(times), time.perf_counter() - wall, time.process_time() - cpu, percentile_ms(times, 50) or 0.0


def run(thread_counts: Sequence[int], callers: Sequence[int], seconds: float) -> list[Pass]:
    engine = FaceEngine(FaceSettings(instances=max(callers)))
    jpegs = [frame.jpeg for frame in sample_frames()]
    passes = []
    before = cv2.getNumThreads()
    try:
        for threads in thread_counts:
            # OpenCV reads 0 as "no threading" and -1 as its default; 0 here means the default,
            # as FACE_OPENCV_THREADS=0 does.
            cv2.setNumThreads(threads if threads > 0 else -1)
            for count in callers:
                measure(engine, jpegs, count, min(1.0, seconds))  # warm-up: pools, caches
                frames, wall_s, cpu_s, p50 = measure(engine, jpegs, count, seconds)
                fps, cpu_ms = frames / wall_s, cpu_s / frames * 1000
                passes.append(Pass(cv2.getNumThreads(), count, frames, fps, cpu_ms, p50))
    finally:
        cv2.setNumThreads(before)  # the process's setting as it was (a test runs this in-process)
    return passes


def format_passes(passes: Sequence[Pass]) -> str:
    lines = [
        f"{'opencv threads':>14} {'callers':>7} {'frames':>6} {'frames/s':>9} {'CPU/frame':>10} {'p50':>8}"
    ]
    lines += [
        f"{p.threads:>14} {p.callers:>7} {p.frames:>6} {p.fps:>9.1f} {p.cpu_ms:>7.1f} ms {p.p50_ms:>5.1f} ms"
        for p in passes
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--threads", default="0,1", help="comma list of OpenCV thread counts (0: one per core)"
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="timed window per pass")
    args = parser.parse_args(argv)
    counts = [int(value) for value in args.threads.split(",")]
    if any(count < 0 for count in counts):
        parser.error("--threads takes counts of 0 or more")
    print(format_passes(run(counts, (1, 4), args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
