"""Target selection: the largest track of a wanted label, kept until the tracker drops it.

Sticky on purpose: when two people cross, the robot keeps following the one it chose instead
of jumping to whoever looks bigger this frame.

With a name to follow (`follow`), only the tracks known to be that person are wanted: the
person box that holds their face, or their face itself when no wanted box holds it (the
tracker holds a name through frames where the face is not recognised). The target is dropped
as soon as its track stops being wanted: another person's face recognised in the held box,
or the name recognised afresh on another track (see `robotclient.tracker`).
"""

from __future__ import annotations

from collections.abc import Sequence

from robotclient.identity import HELD_BY
from robotclient.tracker import Track


class TargetSelector:
    """Chooses which track the robot follows.

    `labels` is in priority order: with ("person", "face") a person is preferred and a face is
    followed only when no person is tracked. `follow` narrows that to one named person.
    """

    def __init__(
        self, labels: Sequence[str] = ("person", "face"), min_hits: int = 2, follow: str | None = None
    ) -> None:
        if not labels:
            raise ValueError("at least one target label is needed")
        if min_hits < 1:
            raise ValueError(f"min_hits must be >= 1, got {min_hits}")
        if follow is not None and not follow.strip():
            raise ValueError("the name to follow must not be empty")
        self.labels = tuple(labels)
        self.min_hits = min_hits
        self.follow = follow
        self.target_id: int | None = None

    def reset(self) -> None:
        self.target_id = None

    def select(self, tracks: Sequence[Track]) -> Track | None:
        """The track to follow now, or None. Keeps the current id while its track is alive and wanted."""
        if self.target_id is not None:
            for track in tracks:
                if track.track_id == self.target_id and self.rank(track) is not None:
                    return track
            self.target_id = None
        # A new target must be seen now and confirmed by a few hits, so one false box does not
        # swing the robot round; among the wanted, the best rank wins, then the largest.
        ranked = [
            (rank, -t.area, t.track_id, t)
            for t in tracks
            if t.visible and t.hits >= self.min_hits and (rank := self.rank(t)) is not None
        ]
        if not ranked:
            return None
        best = min(ranked, key=lambda entry: entry[:3])[3]
        self.target_id = best.track_id
        return best

    def rank(self, track: Track) -> int | None:
        """Where `track` stands among wanted targets (0 first), None when it is not wanted.

        The one place that says what is wanted: the label's priority, and with `follow` only
        the tracks known to be that person, a face held by a wanted box being wanted through
        the box.
        """
        if track.label not in self.labels:
            return None
        if self.follow is not None and (
            track.identity != self.follow or track.attributes.get(HELD_BY) in self.labels
        ):
            return None
        return self.labels.index(track.label)
