"""`make run`: every part of the mesh, working, driven with real frames until Ctrl-C.

Starts face, YOLO, recognition and the aggregator (YOLO and the face gallery served from the
local model store, so a version published there is picked up without a restart), the camera
gateway with two emulated network cameras and its dashboard, then streams frames like a robot.
Prints one line per frame (boxes, the names of recognised faces, round-trip time) and, at the
end, the mesh's round-trip time beside the time the same work takes in this process without
gRPC, measured on the same frames in the same run. The frames are scikit-image's samples and
photos of the default gallery's people (other photos than the ones enrolled), so the faces of
Obama and Biden come back named; `make enroll FACES=...` changes who is named while it runs.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import threading
import time
from itertools import zip_longest
from typing import Any

from facerecognition.model_files import photo_dir
from liquidedge.config import EnvDefaultsParser, parse_bool
from liquidedge.detections import Detections
from liquidedge.imaging import ImageLimits, decode_jpeg
from liquidedge.lockstep import FrameOptions, LockstepClient, Pacer
from liquidedge.logs import configure_logging
from liquidedge.stats import percentile_ms
from liquidedge.v1 import detection_pb2
from meshtools.cameras_demo import CameraSide, start_camera_side
from meshtools.localmesh import LocalMesh
from meshtools.samples import SampleFrame, photo_frames, sample_frames
from modelstore.fetch import DEFAULT_CACHE

log = logging.getLogger("meshtools.demo")


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="meshtools.demo", description=__doc__)
    parser.env_flag(
        "--model-dir", "LIQUIDEDGE_MODEL_DIR", default="models", help="where `make models` put YOLO"
    )
    parser.env_flag(
        "--port",
        "DEMO_PORT",
        default=50051,
        type=int,
        help="aggregator port (face +2, YOLO +4, recognition +6)",
    )
    parser.env_flag("--view-port", "VIEW_PORT", default=8088, type=int, help="aggregator live view, -1 off")
    parser.env_flag(
        "--frames", "DEMO_FRAMES", default=0, type=int, help="stop after this many frames, 0 = Ctrl-C"
    )
    parser.env_flag(
        "--fps", "DEMO_FPS", default=5.0, type=float, help="frames per second to send, 0 = flat out"
    )
    parser.env_flag("--deadline-ms", "DEMO_DEADLINE_MS", default=2000, type=int, help="per-frame deadline")
    parser.env_flag(
        "--model-store",
        "MODELSTORE_URL",
        default="var/modelstore",
        help="model store with the face gallery (`make gallery-default` publishes one); '' runs without recognition",
    )
    parser.env_flag(
        "--model-cache-dir",
        "MODELSTORE_CACHE_DIR",
        default=DEFAULT_CACHE,
        help="the recognition and YOLO services' cache",
    )
    parser.env_flag(
        "--yolo-from-store",
        "DEMO_YOLO_FROM_STORE",
        default=True,
        type=parse_bool,
        help="serve YOLO from the store's yolov3-tiny channel (`make yolo-default` publishes it), hot-reloaded",
    )
    parser.env_flag(
        "--face-from-store",
        "DEMO_FACE_FROM_STORE",
        default=True,
        type=parse_bool,
        help="serve the face cascade from the store's face-cascade channel (`make face-default` publishes it)",
    )
    parser.env_flag(
        "--gateway-port",
        "DEMO_GATEWAY_PORT",
        default=8080,
        type=int,
        help="the camera gateway's dashboard, with two emulated cameras; -1: no cameras",
    )
    parser.env_flag(
        "--kafka",
        "DEMO_KAFKA",
        default=False,
        type=parse_bool,
        help="also run a local Kafka-protocol broker (`make kafka-broker`) the gateway publishes every answer to",
    )
    parser.env_flag("--kafka-port", "DEMO_KAFKA_PORT", default=9092, type=int, help="the local broker's port")
    return parser


def box_text(detection: detection_pb2.Detection) -> str:
    """`face 0.93 (obama 0.37) [x,y wxh]`: the name and match distance when the face has one."""
    attributes = dict(detection.attributes)
    named = ""
    if "identity" in attributes:
        distance = attributes.get("distance")
        named = f" ({attributes['identity']}{'' if distance is None else f' {distance:.2f}'})"
    box = detection.box
    return f"{detection.label} {detection.confidence:.2f}{named} [{box.x},{box.y} {box.width}x{box.height}]"


def describe(response: detection_pb2.DetectResponse, rtt_ms: float) -> str:
    boxes = "  ".join(box_text(d) for d in response.detections)
    failed = [f"{e.engine}:{e.code}" for e in response.engines if not e.ok]
    status = f"  FAILED {' '.join(failed)}" if failed else ""
    return (
        f"frame {response.frame_number:4d} {response.source_id:10s} rtt {rtt_ms:6.1f} ms  "
        f"by {response.served_by.hostname}  {boxes or '(nothing)'}{status}"
    )


def in_process_s(
    frames: list[SampleFrame], model_dir: str, repeats: int, recognition: Any | None = None
) -> list[float]:
    """Decode + face + YOLO (+ recognition) on the same frames in this process: the mesh's floor."""
    from facedetection.engine import FaceEngine, FaceSettings
    from facerecognition.tracker import IdentityTracker
    from yolodetection.service import build_parser as yolo_parser
    from yolodetection.service import load_engine

    face = FaceEngine(FaceSettings(instances=1))
    yolo = load_engine(yolo_parser().parse_args(["--model-dir", model_dir]))
    trackers = {frame.name: IdentityTracker() for frame in frames}  # one per source, as the service
    times = []
    for frame in frames * repeats:
        start = time.perf_counter()
        image = decode_jpeg(frame.jpeg, ImageLimits()).image_bgr
        faces = face.detect(image)
        if recognition is not None:
            faces = recognition.recognize(image, faces, tracker=trackers[frame.name]).detections
        Detections.merge([faces, yolo.detect(image)])
        times.append(time.perf_counter() - start)
    return times


def recognition_in_process(model_dir: str, store: str, cache_dir: str) -> Any | None:
    """The recognition engine on the store's current gallery, embedding in this process."""
    from pathlib import Path

    from facerecognition.engine import RecognitionEngine, RecognitionSettings, gallery_slot
    from facerecognition.model_files import RecognitionModelFiles
    from facerecognition.store import GalleryPlace
    from modelstore import open_store

    files = RecognitionModelFiles.in_dir(model_dir)
    gallery = GalleryPlace(open_store(store), cache_dir=Path(cache_dir)).load_current(files.model_id)
    if gallery is None:
        return None
    return RecognitionEngine.build(files, gallery_slot(gallery), RecognitionSettings(workers=0))


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


def where_models_come_from(store: str, yolo_from_store: bool, face_from_store: bool = False) -> str:
    """How a newcomer changes a model while this runs (the services pick it up, no restart)."""
    served = ["the face gallery"] + ["YOLO"] * yolo_from_store + ["the face cascade"] * face_from_store
    listed = served[0] if len(served) == 1 else ", ".join(served[:-1]) + " and " + served[-1]
    lines = [
        f"models: {listed} are served from the model store {store}",
        "  enrol someone while it runs:   make enroll FACES=path/to/photos   (NAME.jpg or NAME/*.jpg)",
    ]
    if yolo_from_store:
        lines.append(
            "  a new YOLO version:            .venv/bin/modelstore --store "
            f"{store} publish yolov3-tiny DIR --engine yolo --format darknet --promote production"
        )
    if face_from_store:
        lines.append(
            "  another face cascade:          .venv/bin/modelstore --store "
            f"{store} publish face-cascade DIR --engine face --format haar-cascade --promote production"
            "   (DIR/cascade.xml)"
        )
    lines.append("  the whole retrain loop:        make retrain-demo")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("demo", "INFO", "text")
    store = args.model_store or None
    samples = sample_frames()
    people = photo_frames(photo_dir(args.model_dir)) if store else []
    # The people between the samples, so names come up from the first seconds.
    frames = [f for pair in zip_longest(samples, people) for f in pair if f is not None]
    mesh = LocalMesh(
        args.model_dir,
        aggregator_port=args.port,
        face_port=args.port + 2,
        yolo_port=args.port + 4,
        recognition_port=args.port + 6,
        view_port=args.view_port,
        model_store=store,
        model_cache_dir=args.model_cache_dir,
        yolo_from_store=bool(store) and args.yolo_from_store,
        face_from_store=bool(store) and args.face_from_store,
    )
    rtts_s: list[float] = []
    interrupted = False
    with contextlib.ExitStack() as stack:
        stack.enter_context(mesh)
        print(f"mesh up: aggregator {mesh.address} (grpcurl -plaintext {mesh.address} list)", flush=True)
        if args.view_port >= 0:
            print(f"live view: http://127.0.0.1:{args.view_port}/", flush=True)
        if store:
            print(where_models_come_from(store, args.yolo_from_store, args.face_from_store), flush=True)
        if args.gateway_port >= 0:
            side = CameraSide(
                mesh.address,
                port=args.gateway_port,
                photo_dir=photo_dir(args.model_dir),
                kafka_port=args.kafka_port if args.kafka else 0,
            )
            print("\n".join(["cameras:", *start_camera_side(stack, side)]), flush=True)
        options = FrameOptions(source_id="demo", deadline_ms=args.deadline_ms)
        with LockstepClient.to(mesh.address, options=options) as client:
            try:
                rtts_s = drive(client, frames, args.frames, args.fps)
            except KeyboardInterrupt:
                interrupted = True
                print("\nCtrl-C: stopping the mesh", flush=True)
    if not interrupted and len(rtts_s) >= len(frames):
        recognition = recognition_in_process(args.model_dir, store, args.model_cache_dir) if store else None
        repeats = max(1, min(4, len(rtts_s) // len(frames)))
        local_s = in_process_s(frames, args.model_dir, repeats, recognition)
        mesh_p50 = percentile_ms(rtts_s[len(frames) :] or rtts_s, 50) or 0.0
        local_p50 = percentile_ms(local_s, 50) or 0.0
        print(
            f"round trip through the mesh p50 {mesh_p50:.1f} ms; same work in-process p50 {local_p50:.1f} ms "
            f"(ratio {mesh_p50 / local_p50:.2f}; the mesh runs face and YOLO concurrently, "
            "recognition after face)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
