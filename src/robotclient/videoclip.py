"""The videoclip client: play a video file into the mesh and print a JSON benchmark summary.

    python -m robotclient.videoclip --video clip.mp4 --streams 4 --rate max

Each stream is a robot: the runtime's lock-step client (`liquidedge.lockstep`) on its own
channel, one frame in flight. `--rate native` plays the file at its frame rate and, like a
robot, sends the newest frame when the last is answered, so a slow mesh shows up as dropped
frames; `--rate max` sends the next frame as soon as the previous one is answered, which
measures the mesh's capacity. Frames are decoded and JPEG-encoded once, before the clock
starts, so the client's own encoding does not count against the mesh.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2

from liquidedge.config import EnvDefaultsParser
from liquidedge.imaging import encode_jpeg
from liquidedge.lockstep import FRAME_CODES, LOST, Backoff, FrameOptions, LockstepClient, Outcome
from liquidedge.logs import configure_logging
from liquidedge.stats import tally
from robotclient.clock import Clock, MonotonicClock
from robotclient.sources import VideoFileSource

log = logging.getLogger("robotclient.videoclip")

# The wire protocol by its flag name, and the lock-step client's name for it.
PROTOCOLS = {"v1": "stream", "legacy": "legacy"}
# Past its deadline a frame gets this long for the mesh's DEADLINE_EXCEEDED to arrive before
# the client gives it up as LOST (a hung mesh answers nothing).
LOST_GRACE_S = 0.5
# Codes of a frame that took too long: one is a slow frame, this many in a row an outage.
TIMEOUT_CODES = frozenset({"DEADLINE_EXCEEDED", "CANCELLED", LOST})
OUTAGE_AFTER_TIMEOUTS = 2


@dataclass(frozen=True)
class MeshTarget:
    """Where the clip goes and how: address, wire protocol, per-frame deadline."""

    address: str = "localhost:50051"
    protocol: str = "v1"
    deadline_s: float = 2.0
    source_id: str = "videoclip"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {sorted(PROTOCOLS)}, got {self.protocol!r}")
        if self.deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive, got {self.deadline_s}")


@dataclass(frozen=True)
class ClipSettings:
    streams: int = 1
    frames: int = 100
    rate: str = "max"
    fps: float = 30.0

    def __post_init__(self) -> None:
        if self.streams < 1:
            raise ValueError(f"streams must be >= 1, got {self.streams}")
        if self.frames < 1:
            raise ValueError(f"frames must be >= 1, got {self.frames}")
        if self.rate not in ("max", "native"):
            raise ValueError(f"rate must be 'max' or 'native', got {self.rate!r}")
        if self.rate == "native" and self.fps <= 0:
            raise ValueError(f"native rate needs a positive fps, got {self.fps}")


def load_clip(
    path: str, *, max_frames: int, width: int = 0, quality: int = 85
) -> tuple[list[bytes], float | None]:
    """JPEG frames of a video file (resized to `width` when non-zero) and its frame rate."""
    jpegs: list[bytes] = []
    with VideoFileSource(path, MonotonicClock()) as source:
        fps = source.native_fps
        while len(jpegs) < max_frames:
            frame = source.read()
            if frame is None:
                break
            image = frame.image_bgr
            if width and image.shape[1] != width:
                height = round(image.shape[0] * width / image.shape[1])
                image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
            jpegs.append(encode_jpeg(image, quality))
    if not jpegs:
        raise ValueError(f"{path} has no frames")
    return jpegs, fps


@dataclass
class StreamRun:
    """What one stream did: every frame sent (with its outcome), frames skipped, outages."""

    outcomes: list[Outcome] = field(default_factory=list)
    submitted: int = 0
    dropped: int = 0
    outages: int = 0


@dataclass
class _Outages:
    """Outage bookkeeping as the robot's link does it: a run of failures that are the mesh's
    (not one frame's refusal), timeouts only from the second in a row; counted once a run."""

    backoff: Backoff = field(default_factory=lambda: Backoff(0.1, 2.0))
    timeouts_in_row: int = 0
    down: bool = False

    def wait_after(self, outcome: Outcome, run: StreamRun) -> float:
        """Seconds to wait before the next frame (0 unless the mesh looks down)."""
        if outcome.answered:
            self.timeouts_in_row, self.down = 0, False
        if outcome.answered or outcome.code in FRAME_CODES:  # the mesh answered, if only to refuse
            self.backoff.reset()
            return 0.0
        if outcome.code in TIMEOUT_CODES:
            self.timeouts_in_row += 1
            if self.timeouts_in_row < OUTAGE_AFTER_TIMEOUTS:
                return 0.0
        if not self.down:
            self.down = True
            run.outages += 1
            log.warning("mesh unreachable (%s: %s); retrying", outcome.code, outcome.details)
        return self.backoff.next_s()


def _play(
    client: LockstepClient, jpegs: Sequence[bytes], settings: ClipSettings, clock: Clock, start_s: float
) -> StreamRun:
    """One stream's frames, lock-step; at the native rate frame i is captured at start + i/fps
    and the newest captured frame is the one sent (those skipped count as dropped)."""
    run = StreamRun(submitted=settings.frames)
    outages = _Outages()
    index = 0
    while index < settings.frames:
        if settings.rate == "native":
            newest = min(settings.frames - 1, int((clock.now() - start_s) * settings.fps))
            if newest < index:  # not captured yet
                clock.sleep(start_s + index / settings.fps - clock.now())
                newest = index
            run.dropped += newest - index
            index = newest
        outcome = client.send(jpegs[index % len(jpegs)], number=index + 1)
        run.outcomes.append(outcome)
        clock.sleep(outages.wait_after(outcome, run))
        index += 1
    return run


def run_clip(
    jpegs: Sequence[bytes], target: MeshTarget, settings: ClipSettings, clock: Clock | None = None
) -> dict[str, object]:
    """Play the frames on `settings.streams` concurrent streams; return the summary."""
    clock = clock or MonotonicClock()
    clients = [
        LockstepClient.to(
            target.address,
            protocol=PROTOCOLS[target.protocol],
            options=FrameOptions(
                source_id=f"{target.source_id}-{i}", deadline_ms=round(target.deadline_s * 1000)
            ),
            wait_s=target.deadline_s + LOST_GRACE_S,
            clock=clock.now,
        )
        for i in range(settings.streams)
    ]
    runs: list[StreamRun] = [StreamRun() for _ in clients]

    def play(i: int) -> None:
        runs[i] = _play(clients[i], jpegs, settings, clock, start_s)

    threads = [threading.Thread(target=play, args=(i,), name=f"clip-{i}") for i in range(len(clients))]
    start_s = clock.now()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        duration_s = clock.now() - start_s
    finally:
        for client in clients:
            client.close()
    return summarize(runs, duration_s, settings, target)


def summarize(
    runs: Sequence[StreamRun], duration_s: float, settings: ClipSettings, target: MeshTarget
) -> dict[str, object]:
    """Merge the streams into one summary (`liquidedge.stats`). FPS is answered frames per wall second."""
    counted = tally(outcome for run in runs for outcome in run.outcomes)
    return {
        "address": target.address,
        "protocol": target.protocol,
        "streams": settings.streams,
        "rate": settings.rate,
        "frames_submitted": sum(run.submitted for run in runs),
        "frames_sent": counted.sent,
        "frames_answered": counted.answered,
        "frames_failed": counted.failed,
        "frames_dropped": sum(run.dropped for run in runs),
        "failures_by_code": counted.failures_by_code,
        "outages": sum(run.outages for run in runs),
        "duration_s": round(duration_s, 3),
        "fps": round(counted.answered / duration_s, 3) if duration_s > 0 else 0.0,
        "rtt_ms": counted.rtt_ms(3),
        "engine_latency_ms": counted.engine_percentiles_ms(3),
    }


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="robotclient.videoclip", description=__doc__)
    parser.env_flag("--video", "ROBOT_VIDEO", default="", help="video file to play (required)")
    parser.env_flag("--mesh-addr", "ROBOT_MESH_ADDR", default="localhost:50051", help="aggregator address")
    parser.env_flag(
        "--protocol", "ROBOT_PROTOCOL", default="v1", choices=["v1", "legacy"], help="wire protocol"
    )
    parser.env_flag("--streams", "ROBOT_STREAMS", default=1, type=int, help="concurrent streams (robots)")
    parser.env_flag("--frames", "ROBOT_FRAMES", default=100, type=int, help="frames each stream sends")
    parser.env_flag(
        "--rate",
        "ROBOT_RATE",
        default="max",
        choices=["max", "native"],
        help="as fast as answered, or file fps",
    )
    parser.env_flag(
        "--fps", "ROBOT_FPS", default=0.0, type=float, help="override the file's rate, 0 = file's"
    )
    parser.env_flag(
        "--width", "ROBOT_WIDTH", default=640, type=int, help="resize frames to this width, 0 = as is"
    )
    parser.env_flag(
        "--max-clip-frames", "ROBOT_MAX_CLIP_FRAMES", default=300, type=int, help="frames kept in memory"
    )
    parser.env_flag("--deadline-s", "ROBOT_DEADLINE_S", default=2.0, type=float, help="per-frame deadline")
    parser.env_flag("--log-level", "ROBOT_LOG_LEVEL", default="WARNING", help="DEBUG, INFO, WARNING or ERROR")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.video:
        parser.error("--video (or ROBOT_VIDEO) is required")
    configure_logging("robotclient.videoclip", args.log_level, "text")
    try:
        jpegs, file_fps = load_clip(args.video, max_frames=args.max_clip_frames, width=args.width)
        settings = ClipSettings(
            streams=args.streams, frames=args.frames, rate=args.rate, fps=args.fps or file_fps or 30.0
        )
        target = MeshTarget(address=args.mesh_addr, protocol=args.protocol, deadline_s=args.deadline_s)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    summary = run_clip(jpegs, target, settings)
    # The summary is the program's output (for scripts and benchmarks), hence stdout.
    print(json.dumps(summary, indent=2))
    return 0 if summary["frames_answered"] else 1


if __name__ == "__main__":
    sys.exit(main())
