"""Identity reuse along tracks: when a face's earlier identity may stand, and when it may not."""

from __future__ import annotations

import numpy as np
import pytest

from facerecognition.tracker import IdentityTracker, appearance, iou_matrix

BOX = np.array([[100.0, 100.0, 200.0, 200.0]])


def embedded(tracker: IdentityTracker, boxes: np.ndarray, version: str = "v1", looks=None) -> list:
    """One frame where every box is embedded (as the engine does when nothing is reusable)."""
    slots = tracker.step(boxes, version, looks)
    for slot in slots:
        tracker.record(slot.track_id, "alice", 0.3, version)
    return slots


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),  # same box
        ([0, 0, 10, 10], [5, 0, 15, 10], 1 / 3),  # half overlap: 50 / 150
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),  # apart
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # empty boxes
    ],
)
def test_iou(a, b, iou) -> None:
    assert iou_matrix(np.array(a), np.array(b))[0, 0] == pytest.approx(iou)


def test_same_face_reuses_until_recheck() -> None:
    tracker = IdentityTracker(recheck_every=3)
    first = embedded(tracker, BOX)
    assert first[0].reusable is None  # a new track has nothing to reuse
    for _ in range(2):  # frames 2 and 3: reused (1 and 2 frames after the embedding)
        (slot,) = tracker.step(BOX + 2, "v1")
        assert slot.track_id == first[0].track_id and slot.reusable is not None
        assert slot.reusable.name == "alice"
    (slot,) = tracker.step(BOX + 2, "v1")  # frame 4: three frames on, re-check
    assert slot.reusable is None


@pytest.mark.parametrize(
    ("case", "next_box", "version"),
    [
        ("moved a lot", BOX + np.array([40, 0, 40, 0]), "v1"),  # IoU 0.43 < 0.6 since the embedding
        ("grew a lot", np.array([[80.0, 80.0, 230.0, 230.0]]), "v1"),  # IoU 0.44
        ("new gallery", BOX, "v2"),  # identities of another gallery version do not carry over
        ("elsewhere", BOX + 300, "v1"),  # no overlap: a new track
    ],
)
def test_changed_face_is_not_reused(case: str, next_box: np.ndarray, version: str) -> None:
    tracker = IdentityTracker()
    embedded(tracker, BOX)
    (slot,) = tracker.step(next_box, version)
    assert slot.reusable is None, case


def test_another_look_in_the_same_place_is_not_reused() -> None:
    rng = np.random.default_rng(0)
    face_a = rng.integers(0, 255, (300, 300, 3), np.uint8)
    face_b = rng.integers(0, 255, (300, 300, 3), np.uint8)
    tracker = IdentityTracker()
    embedded(tracker, BOX, looks=[appearance(face_a, BOX[0])])
    (same,) = tracker.step(BOX, "v1", [appearance((face_a * 0.7).astype(np.uint8), BOX[0])])
    assert same.reusable is not None and same.reusable.name == "alice"  # darker is the same look
    (other,) = tracker.step(BOX, "v1", [appearance(face_b, BOX[0])])
    assert other.reusable is None


def test_two_faces_keep_their_own_tracks_and_lost_ones_end() -> None:
    tracker = IdentityTracker(max_missed=2)
    boxes = np.vstack([BOX, BOX + 300])
    first = tracker.step(boxes, "v1")
    tracker.record(first[0].track_id, "alice", 0.3, "v1")
    tracker.record(first[1].track_id, "bob", 0.4, "v1")
    # Listed in the other order next frame: each box still finds its own track.
    second = tracker.step(boxes[::-1] + 3, "v1")
    assert [s.reusable.name for s in second] == ["bob", "alice"]
    for _ in range(3):  # alice's box gone for three frames (> max_missed)
        tracker.step(boxes[1:], "v1")
    (back,) = tracker.step(boxes[:1], "v1")
    assert back.track_id not in {s.track_id for s in first} and back.reusable is None


def test_unrecorded_tracks_have_nothing_to_reuse() -> None:
    """A face that was not embedded (too small, late) leaves no identity behind."""
    tracker = IdentityTracker()
    tracker.step(BOX, "v1")
    (slot,) = tracker.step(BOX, "v1")
    assert slot.reusable is None


@pytest.mark.parametrize(
    "kwargs",
    [{"match_iou": 0.0}, {"changed_iou": 1.5}, {"recheck_every": 0}, {"max_missed": -1}],
)
def test_bad_settings_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        IdentityTracker(**kwargs)
