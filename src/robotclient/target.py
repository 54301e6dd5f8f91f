"""Target selection: the largest track of a wanted label, kept until the tracker drops it.

Sticky on purpose: when two people cross, the robot keeps following the one it chose instead
of jumping to whoever looks bigger this frame.
"""

from __future__ import annotations

from collections.abc import Sequence

from robotclient.tracker import Track


class TargetSelector:
    """Chooses which track the robot follows.

    `labels` is in priority order: with ("person", "face") a person is preferred and a face is
    followed only when no person is tracked.
    """

    def __init__(self, labels: Sequence[str] = ("person", "face"), min_hits: int = 2) -> None:
        if not labels:
            raise ValueError("at least one target label is needed")
        if min_hits < 1:
            raise ValueError(f"min_hits must be >= 1, got {min_hits}")
        self.labels = tuple(labels)
        self.min_hits = min_hits
        self.target_id: int | None = None

    def reset(self) -> None:
        self.target_id = None

    def select(self, tracks: Sequence[Track]) -> Track | None:
        """The track to follow now, or None. Keeps the current id while its track is alive."""
        if self.target_id is not None:
            for track in tracks:
                if track.track_id == self.target_id:
                    return track
            self.target_id = None
        for label in self.labels:
            # A new target must be seen now and confirmed by a few hits, so one false box
            # does not swing the robot round.
            candidates = [t for t in tracks if t.label == label and t.visible and t.hits >= self.min_hits]
            if candidates:
                best = max(candidates, key=lambda t: (t.area, -t.track_id))
                self.target_id = best.track_id
                return best
        return None
