"""Target selection: largest of the wanted label, label priority, sticky until lost."""

from __future__ import annotations

import pytest

from robotclient.target import TargetSelector
from robotclient.tracker import Track


def track(track_id: int, size: float, label: str = "person", hits: int = 3, missed: int = 0) -> Track:
    return Track(track_id, label, (0.0, 0.0, size, size), (0.0, 0.0, 0.0), 0.9, hits=hits, missed=missed)


def test_picks_largest_of_wanted_label() -> None:
    selector = TargetSelector(["person"])
    chosen = selector.select([track(1, 50), track(2, 90), track(3, 200, label="car")])
    assert chosen is not None and chosen.track_id == 2


def test_label_priority() -> None:
    selector = TargetSelector(["person", "face"])
    assert selector.select([track(1, 300, label="face"), track(2, 50)]).track_id == 2
    selector = TargetSelector(["person", "face"])
    assert selector.select([track(1, 300, label="face")]).track_id == 1


def test_sticky_until_lost() -> None:
    selector = TargetSelector(["person"])
    assert selector.select([track(1, 50)]).track_id == 1
    # A bigger person appears: the robot keeps following the first one.
    assert selector.select([track(1, 50), track(2, 200)]).track_id == 1
    # Still sticky while the track coasts on missed frames.
    assert selector.select([track(1, 50, missed=2), track(2, 200)]).track_id == 1
    # Lost: switch to the largest.
    assert selector.select([track(2, 200)]).track_id == 2


@pytest.mark.parametrize(
    ("candidate", "chosen"),
    [
        (track(1, 50, hits=1), False),  # a single sighting is not enough
        (track(1, 50, hits=2), True),
        (track(1, 50, missed=1), False),  # not seen now: not a new target
        (track(1, 50, label="dog"), False),
    ],
)
def test_new_target_requirements(candidate: Track, chosen: bool) -> None:
    assert (TargetSelector(["person"], min_hits=2).select([candidate]) is not None) is chosen


def test_none_when_empty_and_reset() -> None:
    selector = TargetSelector(["person"])
    assert selector.select([]) is None
    selector.select([track(4, 10)])
    selector.reset()
    assert selector.target_id is None


@pytest.mark.parametrize(("labels", "min_hits"), [((), 1), (("person",), 0)])
def test_invalid_arguments(labels: tuple, min_hits: int) -> None:
    with pytest.raises(ValueError):
        TargetSelector(labels, min_hits=min_hits)


def test_equal_sizes_go_to_the_older_track() -> None:
    selector = TargetSelector(["person"])
    assert selector.select([track(5, 80), track(3, 80), track(4, 60)]).track_id == 3


@pytest.mark.parametrize(
    ("label", "rank"),
    [("person", 0), ("face", 1), ("dog", None)],  # the priority order; unwanted labels have none
)
def test_rank_is_the_label_priority(label: str, rank: int | None) -> None:
    assert TargetSelector(["person", "face"]).rank(track(1, 50, label=label)) == rank


# Following a named person.


def named(track_id: int, size: float, label: str, identity: str | None, held_by: str | None = None) -> Track:
    attributes = {key: value for key, value in (("identity", identity), ("held_by", held_by)) if value}
    return Track(track_id, label, (0.0, 0.0, size, size), (0.0, 0.0, 0.0), 0.9, hits=3, attributes=attributes)


@pytest.mark.parametrize(
    ("candidate", "rank"),
    [
        (named(1, 50, "person", "obama"), 0),  # the person box holding obama's face
        (named(1, 50, "face", "obama"), 1),  # obama's face, no person box around it
        (named(1, 50, "face", "obama", held_by="person"), None),  # wanted through its person box
        (named(1, 50, "face", "obama", held_by="car"), 1),  # held by a box nobody wants
        (named(1, 50, "person", "biden"), None),
        (named(1, 50, "person", "unknown"), None),
        (named(1, 50, "person", None), None),
        (named(1, 50, "dog", "obama"), None),
    ],
)
def test_rank_when_following_a_name(candidate: Track, rank: int | None) -> None:
    assert TargetSelector(["person", "face"], follow="obama").rank(candidate) == rank


def test_follows_the_named_person_not_the_larger_one() -> None:
    selector = TargetSelector(["person", "face"], follow="obama")
    tracks = [named(1, 300, "person", "biden"), named(2, 80, "person", "obama"), track(3, 500)]
    assert selector.select(tracks).track_id == 2
    # Without a name the same tracks give the largest person, as always.
    assert TargetSelector(["person", "face"]).select(tracks).track_id == 3


def test_the_target_moves_when_its_track_stops_being_the_named_person() -> None:
    selector = TargetSelector(["person"], follow="obama")
    assert selector.select([named(1, 80, "person", "obama")]).track_id == 1
    # Another face recognised in the held box: the box is biden's now; obama is elsewhere.
    moved = selector.select([named(1, 80, "person", "biden"), named(2, 60, "person", "obama")])
    assert moved.track_id == 2
    # Nobody left who is obama: no target.
    assert selector.select([named(1, 80, "person", "biden"), named(2, 60, "person", None)]) is None


def test_from_the_face_to_the_person_box_that_comes_to_hold_it() -> None:
    selector = TargetSelector(["person", "face"], follow="obama")
    assert selector.select([named(1, 40, "face", "obama")]).track_id == 1
    tracks = [named(1, 40, "face", "obama", held_by="person"), named(2, 200, "person", "obama")]
    assert selector.select(tracks).track_id == 2


def test_empty_name_is_refused() -> None:
    with pytest.raises(ValueError, match="name"):
        TargetSelector(["person"], follow=" ")
