"""`make run`: start the local mesh and drive it with real frames until Ctrl-C.

Prints one line per frame (boxes and round-trip time) and, at the end, the mesh's round-trip
time beside the time the same work takes in this process without gRPC, measured on the same
frames in the same run.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import time

from liquidedge.config import EnvDefaultsParser
from liquidedge.detections import Detections
from liquidedge.imaging import ImageLimits, decode_jpeg
from liquidedge.lockstep import FrameOptions, LockstepClient, Pacer
from liquidedge.logs import configure_logging
from liquidedge.stats import percentile_ms
from liquidedge.v1 import detection_pb2
from meshtools.localmesh import LocalMesh
from meshtools.samples import SampleFrame, sample_frames

log = logging.getLogger("meshtools.demo")


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="meshtools.demo", description=__doc__)
    parser.env_flag(
        "--model-dir", "LIQUIDEDGE_MODEL_DIR", default="models", help="where `make models` put YOLO"
    )
    parser.env_flag("--port", "DEMO_PORT", default=50051, type=int, help="aggregator port (face +2, YOLO +4)")
    parser.env_flag("--view-port", "VIEW_PORT", default=8088, type=int, help="aggregator live view, -1 off")
    parser.env_flag(
        "--frames", "DEMO_FRAMES", default=0, type=int, help="stop after this many frames, 0 = Ctrl-C"
    )
    parser.env_flag(
        "--fps", "DEMO_FPS", default=5.0, type=float, help="frames per second to send, 0 = flat out"
    )
    parser.env_flag("--deadline-ms", "DEMO_DEADLINE_MS", default=2000, type=int, help="per-frame deadline")
    return parser


def describe(response: detection_pb2.DetectResponse, rtt_ms: float) -> str:
    boxes = "  ".join(
        f"{d.label} {d.confidence:.2f} [{d.box.x},{d.box.y} {d.box.width}x{d.box.height}]"
        for d in response.detections
    )
    failed = [f"{e.engine}:{e.code}" for e in response.engines if not e.ok]
    status = f"  FAILED {' '.join(failed)}" if failed else ""
    return (
        f"frame {response.frame_number:4d} {response.source_id:10s} rtt {rtt_ms:6.1f} ms  "
        f"by {response.served_by.hostname}  {boxes or '(nothing)'}{status}"
    )


def in_process_s(frames: list[SampleFrame], model_dir: str, repeats: int) -> list[float]:
    """Decode + face + YOLO on the same frames in this process: the mesh's floor."""
    from facedetection.engine import FaceEngine, FaceSettings
    from yolodetection.service import build_parser as yolo_parser
    from yolodetection.service import load_engine

    face = FaceEngine(FaceSettings(instances=1))
    yolo = load_engine(yolo_parser().parse_args(["--model-dir", model_dir]))
    times = []
    for frame in frames * repeats:
        start = time.perf_counter()
        image = decode_jpeg(frame.jpeg, ImageLimits()).image_bgr
        Detections.merge([face.detect(image), yolo.detect(image)])
        times.append(time.perf_counter() - start)
    return times


def drive(client: LockstepClient, frames: list[SampleFrame], count: int, fps: float) -> list[float]:
    """Lock-step like a robot, at most `fps` frames/s; prints each answer; returns the round trips.

    Stops after `count` frames (0: until Ctrl-C) or at the first frame the mesh does not answer.
    """
    camera, never = Pacer(fps), threading.Event()
    numbers = itertools.count(1) if count == 0 else range(1, count + 1)
    rtts_s: list[float] = []
    for number, frame in zip(numbers, itertools.cycle(frames), strict=False):
        camera.wait(never)
        outcome = client.send(frame.jpeg, number, source_id=frame.name)
        if not outcome.answered:
            print(f"stream ended: {outcome.code}: {outcome.details}", flush=True)
            break
        rtts_s.append(outcome.rtt_s)
        print(describe(outcome.reply, outcome.rtt_s * 1000.0), flush=True)
    return rtts_s


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("demo", "INFO", "text")
    frames = sample_frames()
    mesh = LocalMesh(
        args.model_dir,
        aggregator_port=args.port,
        face_port=args.port + 2,
        yolo_port=args.port + 4,
        view_port=args.view_port,
    )
    rtts_s: list[float] = []
    interrupted = False
    with mesh:
        print(f"mesh up: aggregator {mesh.address} (grpcurl -plaintext {mesh.address} list)", flush=True)
        if args.view_port >= 0:
            print(f"live view: http://127.0.0.1:{args.view_port}/", flush=True)
        options = FrameOptions(source_id="demo", deadline_ms=args.deadline_ms)
        with LockstepClient.to(mesh.address, options=options) as client:
            try:
                rtts_s = drive(client, frames, args.frames, args.fps)
            except KeyboardInterrupt:
                interrupted = True
                print("\nCtrl-C: stopping the mesh", flush=True)
    if not interrupted and len(rtts_s) >= len(frames):
        local_s = in_process_s(frames, args.model_dir, repeats=max(1, min(4, len(rtts_s) // len(frames))))
        mesh_p50 = percentile_ms(rtts_s[len(frames) :] or rtts_s, 50) or 0.0
        local_p50 = percentile_ms(local_s, 50) or 0.0
        print(
            f"round trip through the mesh p50 {mesh_p50:.1f} ms; same work in-process p50 {local_p50:.1f} ms "
            f"(ratio {mesh_p50 / local_p50:.2f}; the mesh runs face and YOLO concurrently)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
