"""Tracker: stable ids, optimal (not greedy) assignment, same-label matching, smoothing, expiry."""

from __future__ import annotations

import numpy as np
import pytest
from robot_fakes import scene

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


# Identities along tracks: held through frames where the face is not recognised.

FACE = (40, 10, 80, 50)


@pytest.mark.parametrize(
    ("later", "held"),
    [
        ("unknown", "obama"),  # turned away, too small, recognition late: the name stays
        (None, "obama"),  # an answer without identities: the name stays
        ("biden", "biden"),  # someone else recognised in the same place: the new name
    ],
)
def test_identity_is_held_along_the_track(later: str | None, held: str) -> None:
    tracker = Tracker()
    (first,) = tracker.update(scene(("face", FACE, "obama")))
    assert first.identity == "obama"
    answer = scene(("face", FACE, later)) if later else scene(("face", FACE))
    (track,) = tracker.update(answer)
    assert (track.track_id, track.identity) == (first.track_id, held)


def test_identity_survives_coasting_and_goes_with_the_track() -> None:
    tracker = Tracker(TrackerSettings(max_missed=2))
    tracker.update(scene(("face", FACE, "obama")))
    (coasting,) = tracker.update(Detections.empty())
    assert coasting.identity == "obama" and not coasting.visible
    (back,) = tracker.update(scene(("face", FACE, "unknown")))
    assert back.identity == "obama"
    tracker.update(Detections.empty())
    tracker.update(Detections.empty())
    tracker.update(Detections.empty())
    (stranger,) = tracker.update(scene(("face", FACE, "unknown")))
    assert stranger.identity is None  # the old track was dropped; a new one knows nobody


def test_a_name_recognised_afresh_elsewhere_leaves_the_track_that_only_held_it() -> None:
    tracker = Tracker()
    tracker.update(scene(("face", FACE, "obama"), ("person", (0, 0, 120, 300), "obama")))
    tracks = tracker.update(
        scene(
            ("face", FACE, "unknown"),
            ("person", (0, 0, 120, 300), "unknown"),
            ("face", (440, 10, 480, 50), "obama"),  # obama is over there now
        )
    )
    names = {(t.label, t.xyxy[0]): t.identity for t in tracks}
    assert names[("face", 40)] is None
    assert names[("face", 440)] == "obama"
    # A person box's name is only taken by a person box recognised afresh.
    assert names[("person", 0)] == "obama"


def test_other_attributes_follow_the_latest_detection_and_nothing_is_mutated() -> None:
    tracker = Tracker()
    first_answer = scene(("face", FACE, "obama")).with_data(distance=[0.31])
    (first,) = tracker.update(first_answer)
    second_answer = scene(("face", FACE, "unknown")).with_data(distance=[np.nan])
    (second,) = tracker.update(second_answer)
    assert first.attributes == {"identity": "obama", "distance": pytest.approx(0.31)}
    assert second.attributes == {"identity": "obama"}  # no distance this frame; the name held
    assert list(first_answer.data["identity"]) == ["obama"]
    assert list(second_answer.data["identity"]) == ["unknown"]
