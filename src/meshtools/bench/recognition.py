"""Recognition benchmark: embeddings per second, and what track reuse saves per frame.

    python -m meshtools.bench.recognition [--model-dir models] [--quick] [--json out.json]
    make recognition-bench      (`make bench` prints its embeddings/s beside the mesh's figures)

Prints, all measured in the same run on the fetched photos:
* embeddings/s in this process with 1 and 2 threads (each thread its own network; dlib holds
  the GIL, so the second thread is expected to add nothing) and with 1 and 2 worker processes,
  each with CPU ms per embedding and the ratio to 1 thread;
* per-frame recognition cost on the same 640x480 frames (three people drifting across it),
  without and with an `IdentityTracker`, and the ratio;
* the match distances of every test face to each enrolled person (the threshold's evidence).

`run()` returns the figures as a dict, for a caller such as the mesh benchmark. It lives with
the tools (it reads scikit-image's sample photos), not in the service package.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import skimage.data

from facerecognition.embedder import FaceAligner, LocalEmbedder, ProcessEmbedder
from facerecognition.engine import RecognitionEngine, RecognitionSettings, gallery_slot
from facerecognition.enrolment import Enroller, Photo
from facerecognition.gallery import Gallery
from facerecognition.model_files import RecognitionModelFiles, photo_dir
from facerecognition.tracker import IdentityTracker
from liquidedge.detections import Detections
from liquidedge.logs import configure_logging

log = logging.getLogger(__name__)


def _rate(run_once: Any, count: int, threads: int) -> dict[str, float]:
    """Run `run_once(thread_index)` `count` times on each of `threads` threads."""
    barrier = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        barrier.wait()
        for _ in range(count):
            run_once(index)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    cpu, start = time.process_time(), time.perf_counter()
    barrier.wait()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - start
    total = count * threads
    return {"per_s": total / wall, "cpu_ms": 1000 * (time.process_time() - cpu) / total}


def embedding_rates(
    files: RecognitionModelFiles, chip: np.ndarray, count: int
) -> dict[str, dict[str, float | None]]:
    figures: dict[str, dict[str, float | None]] = {}
    for threads in (1, 2):
        nets = [LocalEmbedder(files.resnet) for _ in range(threads)]
        figures[f"threads={threads}"] = _rate(lambda i, nets=nets: nets[i].embed([chip]), count, threads)
    for workers in (1, 2):
        embedder = ProcessEmbedder(files.resnet, workers)
        try:
            start = time.perf_counter()
            for _ in range(count):
                embedder.embed([chip] * workers)
            wall = time.perf_counter() - start
            # CPU time is spent in the workers, not measurable here: left out (None).
            figures[f"processes={workers}"] = {"per_s": count * workers / wall, "cpu_ms": None}
        finally:
            embedder.close()
    base = figures["threads=1"]["per_s"]
    for row in figures.values():
        row["ratio"] = row["per_s"] / base
    return figures


def head_crop(image: np.ndarray, box: np.ndarray, side: int) -> np.ndarray:
    x1, y1, x2, y2 = box
    margin = 0.6 * (x2 - x1)
    height, width = image.shape[:2]
    crop = image[
        int(max(0, y1 - margin)) : int(min(height, y2 + margin)),
        int(max(0, x1 - margin)) : int(min(width, x2 + margin)),
    ]
    scale = side / (x2 - x1)
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def drifting_frames(heads: list[np.ndarray], count: int) -> list[np.ndarray]:
    """`count` 640x480 JPEG-80 frames with the heads side by side, drifting 2 px a frame."""
    frames = []
    for t in range(count):
        frame = np.full((480, 640, 3), 90, np.uint8)
        for k, face in enumerate(heads):
            x, y = 10 + 210 * k + (2 * t) % 40, 80 + (t % 20)
            h, w = min(face.shape[0], 480 - y), min(face.shape[1], 640 - x)
            frame[y : y + h, x : x + w] = face[:h, :w]
        _, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
        frames.append(cv2.imdecode(data, cv2.IMREAD_COLOR))
    return frames


def frame_costs(
    engine: RecognitionEngine, frames: list[np.ndarray], detect: Any
) -> dict[str, dict[str, float]]:
    faces = [detect(frame) for frame in frames]  # detection is not what is measured
    figures = {}
    for label, tracker in (("no reuse", None), ("track reuse", IdentityTracker())):
        embedded = 0
        cpu, start = time.process_time(), time.perf_counter()
        for frame, boxes in zip(frames, faces, strict=True):
            embedded += engine.recognize(frame, boxes, tracker=tracker).report.embedded
        wall = time.perf_counter() - start
        figures[label] = {
            "ms_per_frame": 1000 * wall / len(frames),
            "cpu_ms_per_frame": 1000 * (time.process_time() - cpu) / len(frames),
            "embeddings_per_frame": embedded / len(frames),
            "faces_per_frame": float(np.mean([len(f) for f in faces])),
        }
    base = figures["no reuse"]["ms_per_frame"]
    for row in figures.values():
        row["cost_ratio"] = row["ms_per_frame"] / base
    return figures


def largest_face(enroller: Enroller, image: np.ndarray) -> np.ndarray:
    return np.asarray(max(enroller.detect_faces(image), key=lambda b: b[2] - b[0]), np.float64)


def distances(
    enroller: Enroller, gallery: Gallery, photos: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Each photo's largest face against each enrolled person: as is, and shrunk to 60 px at
    JPEG 50; then any other box dlib's detector drew in the photo (not faces of anyone here)."""

    def row(picture: np.ndarray, box: np.ndarray) -> dict[str, float]:
        (vector,) = enroller.embedder.embed([enroller.aligner.chip(picture, box)])
        if vector is None:
            raise RuntimeError("no embedding without a deadline")
        names = np.asarray(gallery.names)
        return {
            person: float(np.min(np.linalg.norm(gallery.embeddings[names == person] - vector, axis=1)))
            for person in gallery.people
        }

    table: dict[str, dict[str, float]] = {}
    for name, image in photos.items():
        found = sorted(enroller.detect_faces(image), key=lambda b: b[0] - b[2])  # largest first
        box = np.asarray(found[0], np.float64)
        table[name] = row(image, box)
        scale = 60 / (box[2] - box[0])
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        _, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 50])
        table[f"{name} @60px q50"] = row(cv2.imdecode(data, cv2.IMREAD_COLOR), box * scale)
        for k, other in enumerate(found[1:], 1):
            table[f"{name} other box {k}"] = row(image, np.asarray(other, np.float64))
    return table


def _as_detections(boxes: list[tuple[int, int, int, int]]) -> Detections:
    n = len(boxes)
    return Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
        confidence=np.ones(n),
        label=["face"] * n,
        engine=["face"] * n,
    )


def run(model_dir: str | Path, *, quick: bool = False) -> dict[str, Any]:
    files = RecognitionModelFiles.in_dir(model_dir)
    files.check()
    folder = photo_dir(model_dir)
    photos = {
        name: cv2.imread(str(folder / f"{name}.jpg"))
        for name in ("obama", "obama2", "obama3", "biden", "obama_partial_face")
    }
    photos["astronaut"] = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    aligner = FaceAligner(files.predictor)
    local = LocalEmbedder(files.resnet)
    enroller = Enroller(aligner, local, files.model_id)
    gallery = enroller.build(
        {n: [Photo(f"{n}.jpg", (folder / f"{n}.jpg").read_bytes())] for n in ("obama", "biden")}
    )
    boxes = {n: largest_face(enroller, photos[n]) for n in ("obama2", "biden", "astronaut")}
    chip = aligner.chip(photos["obama2"], boxes["obama2"])
    count = 4 if quick else 20
    results: dict[str, Any] = {"device": local.device, "model_id": files.model_id}
    results["embeddings"] = embedding_rates(files, chip, count)

    heads = [head_crop(photos[n], boxes[n], 110) for n in ("obama2", "biden", "astronaut")]
    frames = drifting_frames(heads, 10 if quick else 40)
    engine = RecognitionEngine(aligner, local, gallery_slot(gallery), RecognitionSettings(workers=0))
    # dlib's detector finds all three heads; boxes are found before the timed part.
    results["frames"] = frame_costs(
        engine, frames, lambda frame: _as_detections(enroller.detect_faces(frame))
    )
    results["distances"] = distances(enroller, gallery, photos)
    return results


def format_embedding_rates(rates: dict[str, dict[str, float | None]]) -> list[str]:
    """The embeddings table: per second, CPU ms each, ratio to one thread."""
    lines = [f"{'embeddings':<16}{'per s':>8}{'CPU ms each':>13}{'ratio':>8}"]
    for label, row in rates.items():
        cpu = "-" if row["cpu_ms"] is None else f"{row['cpu_ms']:.0f}"
        lines.append(f"{label:<16}{row['per_s']:>8.1f}{cpu:>13}{row['ratio']:>8.2f}")
    return lines


def report(results: dict[str, Any]) -> str:
    lines = [f"face recognition benchmark ({results['device']}, model {results['model_id']})", ""]
    lines += format_embedding_rates(results["embeddings"])
    lines += ["", f"{'per frame':<14}{'faces':>7}{'embedded':>10}{'ms':>8}{'CPU ms':>8}{'ratio':>8}"]
    for label, row in results["frames"].items():
        lines.append(
            f"{label:<14}{row['faces_per_frame']:>7.1f}{row['embeddings_per_frame']:>10.2f}"
            f"{row['ms_per_frame']:>8.1f}{row['cpu_ms_per_frame']:>8.1f}{row['cost_ratio']:>8.2f}"
        )
    people = sorted(next(iter(results["distances"].values())))
    lines += ["", f"{'distance to':<32}" + "".join(f"{p:>8}" for p in people)]
    for name, row in results["distances"].items():
        lines.append(f"{name:<32}" + "".join(f"{row[p]:>8.3f}" for p in people))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", default="models", help="directory `make recognition-models` fills")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    configure_logging("facerecognition-bench", level="WARNING", fmt="text")
    results = run(args.model_dir, quick=args.quick)
    sys.stdout.write(report(results) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
