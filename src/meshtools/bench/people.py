"""Group (d) of `make bench`: the mesh naming people, with recognition on and off, and where it runs.

Same frames for every case, in one run: a 640x480 "video" of three heads (Obama and Biden
from other photos than the enrolled ones, and a stranger) drifting 2 px a frame, so face
tracks hold and identities are reused as on a robot's camera. Each stream is one robot
playing the clip in order under its own source id.

    people:off        the mesh with recognition configured, turned off by request (face, yolo)
    people:on         the same mesh, recognition on: the aggregator feeds a recognition
                      service the face boxes (placement B, production)
    people:in-face    recognition inside the face service, one call (placement A; the
                      measuring instrument `meshtools.bench.face_with_recognition`)

at 1 and 4 streams, plus embeddings per second (threads and worker processes, from
`meshtools.bench.recognition`). The services are started here and stopped after the group.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from facerecognition.embedder import FaceAligner, LocalEmbedder
from facerecognition.enrolment import Enroller, Photo
from facerecognition.model_files import RecognitionModelFiles, photo_dir
from facerecognition.store import GalleryPlace
from liquidedge.imaging import encode_jpeg
from meshtools.bench.grpc_cases import NO_SHEDDING, grpc_stream, service_flags
from meshtools.bench.load import CaseResult, Stream
from meshtools.bench.recognition import (
    drifting_frames,
    embedding_rates,
    format_embedding_rates,
    head_crop,
    largest_face,
)
from meshtools.bench.report import Ratio, fps_ratio, p50_ratio
from meshtools.localmesh import start_service
from meshtools.samples import SampleFrame
from modelstore import open_store

log = logging.getLogger(__name__)

STREAMS = (1, 4)
CASES = ("people:off", "people:on", "people:in-face")


@dataclass
class PeopleScene:
    """The clip, and a store holding the gallery it is recognised against (Obama, Biden)."""

    frames: list[SampleFrame]
    store: Path
    chip: Any  # one aligned face, for the embedding rates
    files: RecognitionModelFiles


def build_scene(model_dir: str, folder: Path, count: int) -> PeopleScene:
    files = RecognitionModelFiles.in_dir(model_dir)
    files.check()
    photos = photo_dir(model_dir)
    aligner = FaceAligner(files.predictor, 1)
    enroller = Enroller(aligner, LocalEmbedder(files.resnet), files.model_id)
    gallery = enroller.build(
        {n: [Photo(f"{n}.jpg", (photos / f"{n}.jpg").read_bytes())] for n in ("obama", "biden")}
    )
    GalleryPlace(open_store(str(folder / "store")), cache_dir=folder / "cache").publish(gallery)
    images = {n: cv2.imread(str(photos / f"{n}.jpg")) for n in ("obama2", "biden")}
    from meshtools.samples import sample_image_bgr

    images["astronaut"] = sample_image_bgr("astronaut")
    boxes = {n: largest_face(enroller, image) for n, image in images.items()}
    heads = [head_crop(images[n], boxes[n], 110) for n in ("obama2", "biden", "astronaut")]
    frames = []
    for t, image in enumerate(drifting_frames(heads, count)):
        jpeg = encode_jpeg(image, 85)
        frames.append(SampleFrame(f"people-{t}", image, jpeg))
    chip = aligner.chip(images["obama2"], boxes["obama2"])
    return PeopleScene(frames, folder / "store", chip, files)


def in_order(address: str, frames: Sequence[SampleFrame], engines: Sequence[str], source: str) -> Stream:
    """A robot playing the clip from its start, whatever frame numbers the load driver hands out."""
    inner = grpc_stream(address, frames, engines, source_id=source)
    played = itertools.count()
    return Stream(lambda _index: inner.send(next(played)), inner.close)


def start_people_services(
    stack: ExitStack, scene: PeopleScene, folder: Path, face: str, yolo: str
) -> dict[str, str]:
    """Recognition, the face-with-recognition instrument, and an aggregator in front of each."""
    room = service_flags(max(STREAMS))
    quiet = ["--log-level", "WARNING"]
    store = ["--model-store", str(scene.store), "--model-cache-dir", str(folder / "cache")]
    model = ["--model-dir", str(scene.files.resnet.parent)]

    def started(name: str, module: str, flags: list[str]) -> str:
        service = start_service(name, module, flags, timeout_s=300)
        stack.callback(service.stop)
        return service.address

    recognition = started("facerecognition", "facerecognition", [*room, *quiet, *store, *model])
    in_face = started(
        "face-with-recognition", "meshtools.bench.face_with_recognition", [*room, *quiet, *store, *model]
    )
    aggregator = [*NO_SHEDDING, *quiet, "--engine-timeout-ms", "120000"]
    return {
        "separate": started(
            "objectdetection",
            "objectdetection",
            [*aggregator, "--face-addr", face, "--yolo-addr", yolo, "--recognition-addr", recognition],
        ),
        "in-face": started(
            "objectdetection", "objectdetection", [*aggregator, "--face-addr", in_face, "--yolo-addr", yolo]
        ),
    }


def run_people(
    streams_case: Callable[[str, str, Callable[[int], Stream], int], None],
    model_dir: str,
    face: str,
    yolo: str,
    *,
    quick: bool,
) -> dict[str, Any]:
    """Run group (d) through `streams_case`; returns the embedding rates for the report."""
    with tempfile.TemporaryDirectory(prefix="bench-people-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        scene = build_scene(model_dir, folder, 20 if quick else 40)
        rates = embedding_rates(scene.files, scene.chip, 4 if quick else 20)
        meshes = start_people_services(stack, scene, folder, face, yolo)
        cases = {
            "people:off": (meshes["separate"], ("face", "yolo")),
            "people:on": (meshes["separate"], ()),
            "people:in-face": (meshes["in-face"], ()),
        }
        for n in STREAMS:
            for case, (address, engines) in cases.items():
                streams_case(
                    "d", case, lambda i, a=address, e=engines: in_order(a, scene.frames, e, f"robot-{i}"), n
                )
    return rates


def people_ratios(results: Sequence[CaseResult]) -> list[Ratio]:
    ratios: list[Ratio | None] = []
    for n in STREAMS:
        ratios += [
            fps_ratio(results, "recognition on / off", "people:on", "people:off", n),
            p50_ratio(results, "recognition on / off", "people:on", "people:off", n),
            fps_ratio(results, "in face service / separate", "people:in-face", "people:on", n),
            p50_ratio(results, "in face service / separate", "people:in-face", "people:on", n),
        ]
    return [r for r in ratios if r is not None]


def format_rates(rates: dict[str, dict[str, float | None]]) -> str:
    return "\n".join(format_embedding_rates(rates))
