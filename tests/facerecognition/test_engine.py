"""The engine's economy: what it embeds, what it reuses, what it leaves unknown and why."""

from __future__ import annotations

import time
from collections.abc import Sequence

import cv2
import numpy as np
import pytest
from face_photos import head, jpeg

from facedetection.engine import FaceEngine
from facerecognition.embedder import CostEstimate, FaceAligner, LocalEmbedder, ProcessEmbedder, fitting
from facerecognition.engine import RecognitionEngine, RecognitionSettings, gallery_slot
from facerecognition.gallery import Gallery
from facerecognition.model_files import RecognitionModelFiles
from facerecognition.tracker import IdentityTracker


class CountingEmbedder:
    """The real embedder, counting the chips it is asked to embed."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner
        self.device, self.lanes, self.cost = inner.device, inner.lanes, inner.cost
        self.chips = 0

    def embed(self, chips: Sequence[np.ndarray], deadline: float | None = None) -> list[np.ndarray | None]:
        self.chips += len(chips)
        return self.inner.embed(chips, deadline)

    def close(self) -> None:
        pass


def make_engine(aligner, embedder, gallery: Gallery | None, **settings) -> RecognitionEngine:
    return RecognitionEngine(
        aligner, embedder, gallery_slot(gallery), RecognitionSettings(workers=0, **settings)
    )


def scene(photos, boxes, layout: dict[str, tuple[int, int]], side: int = 90) -> np.ndarray:
    """A 640x480 JPEG-50 frame with these people's heads (from their own photos) at (x, y)."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    for name, (x, y) in layout.items():
        image = head(photos[name], boxes[name], side)
        h, w = min(image.shape[0], 480 - y), min(image.shape[1], 640 - x)
        frame[y : y + h, x : x + w] = image[:h, :w]
    return jpeg(frame, 50)


def names_by_x(result) -> list[str]:
    order = np.argsort(result.detections.xyxy[:, 0])
    return [str(result.detections.data["identity"][i]) for i in order]


@pytest.fixture
def counting(embedder: LocalEmbedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


def test_track_reuse_skips_embeddings_a_changed_face_is_embedded(
    aligner: FaceAligner,
    counting: CountingEmbedder,
    default_gallery: Gallery,
    photos,
    face_boxes,
    haar: FaceEngine,
) -> None:
    engine = make_engine(aligner, counting, default_gallery)
    tracker = IdentityTracker()
    frames = [
        scene(photos, face_boxes, {"obama2": (40, 100), "biden": (360, 100)}),
        scene(photos, face_boxes, {"obama2": (44, 102), "biden": (357, 101)}),  # both moved a little
        scene(
            photos, face_boxes, {"obama2": (44, 102), "astronaut": (357, 101)}
        ),  # someone else in Biden's place
        scene(photos, face_boxes, {"obama2": (200, 250), "astronaut": (357, 101)}),  # Obama walked away
    ]
    results = []
    for frame in frames:
        before = counting.chips
        result = engine.recognize(frame, haar.detect(frame), tracker=tracker)
        results.append((names_by_x(result), counting.chips - before, result.report))
    assert [(names, chips) for names, chips, _ in results] == [
        (["obama", "biden"], 2),  # first sight: both embedded
        (["obama", "biden"], 0),  # same faces, barely moved: both reused
        (["obama", "unknown"], 1),  # the newcomer looks different: embedded, a stranger
        (["obama", "unknown"], 1),  # Obama's box moved far: embedded again; the stranger reused
    ]
    assert [(r.embedded, r.reused) for _, _, r in results] == [(2, 0), (0, 2), (1, 1), (1, 1)]
    # Without a tracker every frame embeds every face.
    before = counting.chips
    engine.recognize(frames[1], haar.detect(frames[1]))
    assert counting.chips - before == 2


def test_small_faces_and_faces_over_the_limit_are_not_embedded(
    aligner, counting, default_gallery, photos, face_boxes, haar
) -> None:
    engine = make_engine(aligner, counting, default_gallery, max_faces=1, min_face=60)
    # Obama's face large, Biden's large but smaller, the astronaut's 45 px (under min_face).
    frame = np.full((480, 640, 3), 90, np.uint8)
    for name, (x, y), side in (
        ("obama2", (20, 40), 130),
        ("biden", (330, 40), 100),
        ("astronaut", (420, 330), 45),
    ):
        image = head(photos[name], face_boxes[name], side)
        h, w = min(image.shape[0], 480 - y), min(image.shape[1], 640 - x)
        frame[y : y + h, x : x + w] = image[:h, :w]
    faces = haar.detect(frame)
    assert len(faces) == 3
    result = engine.recognize(frame, faces)
    report = result.report
    assert (report.recognised, report.over_limit, report.too_small, counting.chips) == (1, 1, 1, 1)
    assert names_by_x(result) == ["obama", "unknown", "unknown"]  # the largest face was the one embedded
    assert "distance" not in result.detections.attributes(int(np.argmin(faces.xyxy[:, 2] - faces.xyxy[:, 0])))
    # Each box says why it was not matched (the matched one says nothing).
    order = np.argsort(result.detections.xyxy[:, 0])
    reasons = [result.detections.attributes(int(i)).get("unrecognised") for i in order]
    assert reasons == [None, "over_limit", "too_small"]


def test_deadline_passed_faces_come_back_unknown_and_late(
    aligner, counting, default_gallery, photos, haar
) -> None:
    engine = make_engine(aligner, counting, default_gallery)
    faces = haar.detect(photos["obama2"])
    result = engine.recognize(photos["obama2"], faces, deadline=time.monotonic() - 0.001)
    assert result.report.late == len(faces) and result.report.embedded == 0 and counting.chips == 0
    assert list(result.detections.data["identity"]) == ["unknown"] * len(faces)
    assert list(result.detections.data["unrecognised"]) == ["late"] * len(faces)
    np.testing.assert_array_equal(result.detections.xyxy, faces.xyxy)  # the boxes all come back
    # With time to spare the same face is recognised.
    result = engine.recognize(photos["obama2"], faces, deadline=time.monotonic() + 30)
    assert result.report.late == 0 and list(result.detections.data["identity"]) == ["obama"]


def test_no_gallery_means_unknown_for_everyone(recognition_files, photos, haar) -> None:
    engine = RecognitionEngine.build(recognition_files, gallery_slot(), RecognitionSettings(workers=0))
    faces = haar.detect(photos["obama2"])
    result = engine.recognize(photos["obama2"], faces)
    assert result.report.no_gallery == len(faces) == 1 and result.report.outcomes()["no_gallery"] == 1
    assert result.detections.attributes(0) == {"identity": "unknown", "unrecognised": "no_gallery"}


@pytest.mark.parametrize(
    ("count", "deadline", "cost", "lanes", "fits"),
    [
        (3, None, 0.1, 1, 3),  # no deadline: everything
        (3, 1.0, 0.1, 1, 3),  # 10 rounds fit, 3 needed
        (5, 0.25, 0.1, 1, 2),  # 2 rounds of one
        (5, 0.25, 0.1, 2, 4),  # 2 rounds of two
        (5, 0.05, 0.1, 4, 0),  # not even one round
        (5, -0.1, 0.1, 1, 0),  # already past
    ],
)
def test_fitting(count, deadline, cost, lanes, fits) -> None:
    assert fitting(count, deadline=deadline, cost_s=cost, lanes=lanes, now=0.0) == fits


def test_process_embedder_matches_in_process_and_abandons_late_work(
    recognition_files: RecognitionModelFiles,
    aligner: FaceAligner,
    embedder: LocalEmbedder,
    photos,
    face_boxes,
) -> None:
    chip = aligner.chip(photos["obama2"], face_boxes["obama2"])
    (local,) = embedder.embed([chip])
    workers = ProcessEmbedder(recognition_files.resnet, workers=1)
    try:
        (remote,) = workers.embed([chip])
        np.testing.assert_allclose(remote, local, atol=1e-5)
        # Pretend embeddings are instant, so the chip is submitted, then give it 5 ms: the
        # worker cannot finish (one takes ~85 ms), so the result is dropped, not waited for.
        workers.cost = CostEstimate(1e-6)
        assert workers.embed([chip], deadline=time.monotonic() + 0.005) == [None]
        (again,) = workers.embed([chip])  # the worker is still usable afterwards
        np.testing.assert_allclose(again, local, atol=1e-5)
    finally:
        workers.close()


def test_aligned_chips_from_a_haar_box_and_a_dlib_box_agree(
    aligner: FaceAligner, embedder: LocalEmbedder, enroller, photos, face_boxes
) -> None:
    """The landmarks are found inside whatever box is given: Haar's framing is fine."""
    haar_chip = aligner.chip(photos["obama2"], face_boxes["obama2"])
    dlib_chip = aligner.chip(photos["obama2"], enroller.find_face(photos["obama2"], "obama2"))
    a, b = embedder.embed([haar_chip, dlib_chip])
    assert np.linalg.norm(a - b) < 0.1
    assert cv2.absdiff(haar_chip, dlib_chip).mean() < 20
