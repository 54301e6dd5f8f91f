"""The recognition engine as the mesh hosts it: it names the face boxes the aggregator sends.

The aggregator sends a frame with the face engine's boxes as regions; this answers one box
per region, in order, with `identity`, `distance` and `gallery_version` (a
`liquidedge.engine.RefiningEngine`, hosted by the shared detector servicer). Identities are
reused along each source's face tracks, so every source (robot, camera) gets its own
`IdentityTracker`; the aggregator sends a source's frames to the same replica.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import grpc
import numpy as np
from prometheus_client import Counter

from facerecognition.engine import RecognitionEngine, RecognitionReport
from facerecognition.tracker import IdentityTracker
from liquidedge.detections import Detections
from liquidedge.engine import FrameContext
from liquidedge.metrics import ServiceMetrics
from liquidedge.status import AbortError

log = logging.getLogger(__name__)

# The answer must still travel back inside the caller's deadline: stop this long before it
# (a share of the budget, at least the floor). Measured on a loaded 2-core machine, a thread
# woken at its deadline answered up to ~80 ms later; a face not embedded is only "unknown".
ANSWER_MARGIN_S = 0.02
ANSWER_MARGIN_SHARE = 0.1
NO_GALLERY_DETAILS = (
    "no face gallery is published yet: enrol people (make enroll FACES=..., or Gallery/Enroll) "
    "and the service picks the gallery up without a restart"
)


class SourceTrackers:
    """One `IdentityTracker` per source id; the least recently seen beyond `max_sources` forgotten.

    Frames without a source id get no tracker (no reuse): frames of unknown origin must not
    continue each other's tracks.
    """

    def __init__(self, max_sources: int = 256) -> None:
        if max_sources < 1:
            raise ValueError(f"max_sources must be at least 1, got {max_sources}")
        self.max_sources = max_sources
        self._trackers: OrderedDict[str, IdentityTracker] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._trackers)

    def for_source(self, source_id: str) -> IdentityTracker | None:
        if not source_id:
            return None
        with self._lock:
            tracker = self._trackers.get(source_id)
            if tracker is None:
                tracker = self._trackers[source_id] = IdentityTracker()
                while len(self._trackers) > self.max_sources:
                    self._trackers.popitem(last=False)
            else:
                self._trackers.move_to_end(source_id)
            return tracker


class RecognitionCounters:
    """Recognitions by outcome (recognised, stranger, too_small, over_limit, late, no_gallery)
    and faces by how they were answered (embedded now, or reused from the track)."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.service = metrics.service
        self.outcomes = Counter(
            "liquidedge_recognitions",
            "Faces the recognition engine answered, by outcome",
            ["service", "outcome"],
            registry=metrics.registry,
        )
        self.work = Counter(
            "liquidedge_recognition_faces",
            "Faces given an identity, by how: embedded this frame or reused along the face's track",
            ["service", "how"],
            registry=metrics.registry,
        )

    def count(self, report: RecognitionReport) -> None:
        for outcome, count in report.outcomes().items():
            if count:
                self.outcomes.labels(self.service, outcome).inc(count)
        for how, count in (("embedded", report.embedded), ("reused", report.reused)):
            if count:
                self.work.labels(self.service, how).inc(count)


class RecognitionRefiner:
    """Names the regions of a frame; `close` ends the engine's worker processes."""

    name = "recognition"

    def __init__(
        self,
        engine: RecognitionEngine,
        trackers: SourceTrackers | None,
        counters: RecognitionCounters | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.trackers = trackers
        self.counters = counters
        self._on_close = on_close

    def refine(
        self, image_bgr: np.ndarray, context: FrameContext, deadline: float | None = None
    ) -> Detections:
        regions = context.regions
        if self.engine.slot.version is None:
            if self.counters is not None and len(regions):
                self.counters.count(RecognitionReport(None, faces=len(regions), no_gallery=len(regions)))
            raise AbortError(grpc.StatusCode.FAILED_PRECONDITION, NO_GALLERY_DETAILS)
        tracker = None if self.trackers is None else self.trackers.for_source(context.source_id)
        if deadline is not None:
            now = time.monotonic()
            deadline = max(now, deadline - max(ANSWER_MARGIN_S, ANSWER_MARGIN_SHARE * (deadline - now)))
        result = self.engine.recognize(image_bgr, regions, deadline=deadline, tracker=tracker)
        if self.counters is not None:
            self.counters.count(result.report)
        version = result.report.gallery_version or ""
        return replace(result.detections, meta={**result.detections.meta, "model_version": version})

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
