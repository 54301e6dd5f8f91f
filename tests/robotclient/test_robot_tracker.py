"""Tracker: stable ids, optimal (not greedy) assignment, same-label matching, smoothing, expiry."""

from __future__ import annotations

import numpy as np
import pytest

from liquidedge.detections import Detections
from robotclient.tracker import Tracker, TrackerSettings


def dets(*boxes: tuple, labels: list[str] | None = None, colors: list | None = None) -> Detections:
    n = len(boxes)
    return Detections(
        xyxy=np.array(boxes, np.float32).reshape(n, 4),
        confidence=np.full(n, 0.9),
        label=labels or ["person"] * n,
        engine=["yolo"] * n,
        color_rgb=np.array(colors or [(100, 100, 100)] * n, np.uint8).reshape(n, 3),
    )


def test_ids_are_stable_while_objects_move() -> None:
    tracker = Tracker(TrackerSettings(smoothing=1.0))
    first = tracker.update(dets((0, 0, 100, 200), (300, 0, 400, 200)))
    ids = {t.track_id for t in first}
    for step in range(1, 10):
        tracks = tracker.update(
            dets((step * 5, 0, 100 + step * 5, 200), (300 - step * 5, 0, 400 - step * 5, 200))
        )
        assert {t.track_id for t in tracks} == ids
    left = min(tracks, key=lambda t: t.xyxy[0])
    assert left.track_id == min(ids)
    assert left.hits == 10


def test_optimal_assignment_beats_greedy() -> None:
    # Greedy would give detection B (closest to track 1) to track 1 and leave track 2 with a far
    # box above the gate; the optimal assignment matches both.
    tracker = Tracker(TrackerSettings(smoothing=1.0, size_weight=0.0, color_weight=0.0, max_cost=0.5))
    tracker.update(dets((0, 0, 100, 100), (60, 0, 160, 100)))
    tracks = tracker.update(dets((-30, 0, 70, 100), (40, 0, 140, 100)))
    assert [t.track_id for t in tracks] == [1, 2]
    assert tracks[0].xyxy[0] == -30 and tracks[1].xyxy[0] == 40


def test_labels_never_match_across() -> None:
    tracker = Tracker()
    tracker.update(dets((0, 0, 100, 100), labels=["person"]))
    tracks = tracker.update(dets((0, 0, 100, 100), labels=["face"]))
    by_label = {t.label: t for t in tracks}
    assert by_label["person"].missed == 1
    assert by_label["face"].track_id == 2


def test_colour_separates_two_crossing_people() -> None:
    red, blue = (220, 20, 20), (20, 20, 220)
    tracker = Tracker(TrackerSettings(smoothing=1.0, position_weight=0.2, color_weight=2.0, max_cost=3.0))
    tracker.update(dets((0, 0, 100, 200), (120, 0, 220, 200), colors=[red, blue]))
    # They swap places between frames: position alone would swap the ids, colour keeps them.
    tracks = tracker.update(dets((0, 0, 100, 200), (120, 0, 220, 200), colors=[blue, red]))
    by_id = {t.track_id: t for t in tracks}
    assert by_id[1].xyxy[0] == 120
    assert by_id[2].xyxy[0] == 0


@pytest.mark.parametrize(
    ("max_missed", "empty_frames", "alive"),
    [
        (0, 1, False),  # no coasting at all
        (3, 3, True),  # coasts exactly max_missed frames
        (3, 4, False),  # dropped on the next one
    ],
)
def test_max_missed(max_missed: int, empty_frames: int, alive: bool) -> None:
    tracker = Tracker(TrackerSettings(max_missed=max_missed))
    tracker.update(dets((0, 0, 10, 10)))
    for _ in range(empty_frames):
        tracks = tracker.update(Detections.empty())
    assert bool(tracks) is alive
    if alive:
        assert tracks[0].missed == empty_frames and not tracks[0].visible


def test_smoothing_blends_position() -> None:
    tracker = Tracker(TrackerSettings(smoothing=0.5))
    tracker.update(dets((0, 0, 100, 100)))
    (track,) = tracker.update(dets((20, 0, 120, 100)))
    assert track.xyxy == pytest.approx((10, 0, 110, 100))


def test_far_jump_starts_a_new_track() -> None:
    tracker = Tracker()
    tracker.update(dets((0, 0, 50, 50)))
    tracks = tracker.update(dets((500, 300, 550, 350)))
    assert sorted(t.track_id for t in tracks) == [1, 2]


def test_reset_forgets_tracks_but_never_reuses_ids() -> None:
    tracker = Tracker()
    tracker.update(dets((0, 0, 50, 50)))
    tracker.reset()
    assert tracker.tracks == []
    (track,) = tracker.update(dets((0, 0, 50, 50)))
    assert track.track_id == 2


def test_min_confidence_ignores_weak_boxes() -> None:
    tracker = Tracker(TrackerSettings(min_confidence=0.95))
    assert tracker.update(dets((0, 0, 50, 50))) == []


def test_update_does_not_mutate_returned_tracks() -> None:
    tracker = Tracker(TrackerSettings(smoothing=1.0))
    (before,) = tracker.update(dets((0, 0, 50, 50)))
    tracker.update(dets((5, 0, 55, 50)))
    assert before.xyxy == (0, 0, 50, 50) and before.hits == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_missed": -1}, "max_missed"),
        ({"smoothing": 0.0}, "smoothing"),
        ({"smoothing": 1.5}, "smoothing"),
        ({"max_cost": 0.0}, "max_cost"),
        ({"color_weight": -1.0}, "color_weight"),
    ],
)
def test_settings_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrackerSettings(**kwargs)
