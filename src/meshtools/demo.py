"""`make run`: start the local mesh and drive it with real frames until Ctrl-C.

Prints one line per frame (boxes and round-trip time) and, at the end, the mesh's round-trip
time beside the time the same work takes in this process without gRPC, measured on the same
frames in the same run.
"""

from __future__ import annotations

import itertools
import logging
import statistics
import sys
import threading
import time
from collections.abc import Iterator

import grpc

from liquidedge.config import EnvDefaultsParser
from liquidedge.detections import Detections
from liquidedge.imaging import ImageLimits, decode_jpeg
from liquidedge.logs import configure_logging
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
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


def frame_requests(
    frames: list[SampleFrame], count: int, fps: float, deadline_ms: int, answered: threading.Semaphore
) -> Iterator[detection_pb2.DetectRequest]:
    """Lock-step like a robot: the next frame is captured only once the last one is answered."""
    period = 1.0 / fps if fps > 0 else 0.0
    numbers = itertools.count(1) if count == 0 else range(1, count + 1)
    for number, frame in zip(numbers, itertools.cycle(frames), strict=False):
        answered.acquire()
        started = time.monotonic()
        yield detection_pb2.DetectRequest(
            frame=detection_pb2.Frame(
                number=number,
                capture_time_us=time.monotonic_ns() // 1000,
                jpeg=frame.jpeg,
                source_id=frame.name,
            ),
            deadline_ms=deadline_ms,
        )
        if period:
            time.sleep(max(0.0, period - (time.monotonic() - started)))


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


def in_process_ms(frames: list[SampleFrame], model_dir: str, repeats: int) -> list[float]:
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
        times.append((time.perf_counter() - start) * 1000.0)
    return times


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
    rtts: list[float] = []
    interrupted = False
    with mesh:
        print(f"mesh up: aggregator {mesh.address} (grpcurl -plaintext {mesh.address} list)", flush=True)
        if args.view_port >= 0:
            print(f"live view: http://127.0.0.1:{args.view_port}/", flush=True)
        with grpc.insecure_channel(mesh.address) as channel:
            stub = detection_pb2_grpc.DetectorStub(channel)
            answered = threading.Semaphore(1)
            requests = frame_requests(frames, args.frames, args.fps, args.deadline_ms, answered)
            try:
                for response in stub.DetectStream(requests):
                    rtt_ms = (time.monotonic_ns() // 1000 - response.capture_time_us) / 1000.0
                    answered.release()
                    rtts.append(rtt_ms)
                    print(describe(response, rtt_ms), flush=True)
            except KeyboardInterrupt:
                interrupted = True
                print("\nCtrl-C: stopping the mesh", flush=True)
            except grpc.RpcError as error:
                print(f"stream ended: {error.code().name}: {error.details()}", flush=True)
    if not interrupted and len(rtts) >= len(frames):
        local = in_process_ms(frames, args.model_dir, repeats=max(1, min(4, len(rtts) // len(frames))))
        mesh_p50, local_p50 = statistics.median(rtts[len(frames) :] or rtts), statistics.median(local)
        print(
            f"round trip through the mesh p50 {mesh_p50:.1f} ms; same work in-process p50 {local_p50:.1f} ms "
            f"(ratio {mesh_p50 / local_p50:.2f}; the mesh runs face and YOLO concurrently)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
