"""The videoclip client: play a video file into the mesh and print a JSON benchmark summary.

    python -m robotclient.videoclip --video clip.mp4 --streams 4 --rate max

Each stream is a robot: its own link (one channel, one frame in flight, newest frame only).
`--rate native` submits frames at the file's frame rate, so a slow mesh shows up as dropped
frames, as it would on a robot; `--rate max` sends the next frame as soon as the previous one
is answered, which measures the mesh's capacity. Frames are decoded and JPEG-encoded once,
before the clock starts, so the client's own encoding does not count against the mesh.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import cv2

from liquidedge.config import EnvDefaultsParser
from liquidedge.imaging import encode_jpeg
from liquidedge.logs import configure_logging
from robotclient.clock import Clock, MonotonicClock
from robotclient.link import LinkSettings, MeshLink, OutgoingFrame
from robotclient.sources import VideoFileSource
from robotclient.stats import LinkStats, percentile_ms

log = logging.getLogger("robotclient.videoclip")


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


def _play(
    link: MeshLink, jpegs: Sequence[bytes], settings: ClipSettings, clock: Clock, start_s: float
) -> None:
    wait_s = link.settings.deadline_s + 1.0
    last = 0
    for i in range(settings.frames):
        number = i + 1
        if settings.rate == "native":
            clock.sleep(start_s + i / settings.fps - clock.now())
        link.submit(OutgoingFrame(number=number, capture_time_s=clock.now(), jpeg=jpegs[i % len(jpegs)]))
        last = number
        if settings.rate == "max":
            link.wait_outcome(number, wait_s)
    if settings.rate == "native":
        link.wait_outcome(last, wait_s)


def run_clip(
    jpegs: Sequence[bytes], link_settings: LinkSettings, settings: ClipSettings, clock: Clock | None = None
) -> dict[str, object]:
    """Play the frames on `settings.streams` concurrent links; return the summary."""
    clock = clock or MonotonicClock()
    links = [
        MeshLink(
            LinkSettings(**{**vars(link_settings), "source_id": f"{link_settings.source_id}-{i}"}), clock
        ).start()
        for i in range(settings.streams)
    ]
    start_s = clock.now()
    threads = [
        threading.Thread(target=_play, args=(link, jpegs, settings, clock, start_s), name=f"clip-{i}")
        for i, link in enumerate(links)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        duration_s = clock.now() - start_s
    finally:
        for link in links:
            link.stop()
    return summarize([link.stats for link in links], duration_s, settings, link_settings)


def summarize(
    stats: Sequence[LinkStats], duration_s: float, settings: ClipSettings, link_settings: LinkSettings
) -> dict[str, object]:
    """Merge per-stream counters into one summary. FPS is answered frames per wall second."""
    snapshots = [s.snapshot() for s in stats]
    rtts = [r for s in stats for r in s.rtt_s]
    engines: dict[str, list[float]] = {}
    for s in stats:
        for name, values in s.engine_latency_ms.items():
            engines.setdefault(name, []).extend(values)
    failures: dict[str, int] = {}
    for snap in snapshots:
        for code, count in snap["failures_by_code"].items():
            failures[code] = failures.get(code, 0) + count
    answered = sum(s.answered for s in stats)
    return {
        "address": link_settings.address,
        "protocol": link_settings.protocol,
        "streams": settings.streams,
        "rate": settings.rate,
        "frames_submitted": sum(s.submitted for s in stats),
        "frames_sent": sum(s.sent for s in stats),
        "frames_answered": answered,
        "frames_failed": sum(s.failed for s in stats),
        "frames_dropped": sum(s.dropped for s in stats),
        "failures_by_code": failures,
        "outages": sum(s.outages for s in stats),
        "duration_s": round(duration_s, 3),
        "fps": round(answered / duration_s, 3) if duration_s > 0 else 0.0,
        "rtt_ms": {f"p{q}": _round(percentile_ms(rtts, q)) for q in (50, 95, 99)},
        "engine_latency_ms": {
            name: {f"p{q}": _round(percentile_ms([v / 1000.0 for v in values], q)) for q in (50, 95, 99)}
            for name, values in sorted(engines.items())
        },
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


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
        link_settings = LinkSettings(
            address=args.mesh_addr, protocol=args.protocol, deadline_s=args.deadline_s
        )
    except (OSError, ValueError) as error:
        parser.error(str(error))
    summary = run_clip(jpegs, link_settings, settings)
    # The summary is the program's output (for scripts and benchmarks), hence stdout.
    print(json.dumps(summary, indent=2))
    return 0 if summary["frames_answered"] else 1


if __name__ == "__main__":
    sys.exit(main())
