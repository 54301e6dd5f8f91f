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
