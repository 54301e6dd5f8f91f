"""The classifier as a refining engine: the class of each box the aggregator sends.

The aggregator sends a frame with the boxes of chosen YOLO classes (`bottle`, `cup`, ...) as
the request's regions; this answers one box per region, in order, with `class`,
`class_confidence` and `model_version` in its attributes (a `liquidedge.engine.RefiningEngine`
hosted by the shared detector servicer). A box too small to crop comes back without a class.
Each frame runs wholly on the classifier version it leased from the slot.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from classification.engine import ClassificationEngine
from liquidedge.detections import Detections
from liquidedge.engine import FrameContext
from liquidedge.modelslot import ModelSlot

REFINER_NAME = "classifier-crops"


class CropRefiner:
    name = REFINER_NAME

    def __init__(self, slot: ModelSlot[ClassificationEngine]) -> None:
        self.slot = slot

    def refine(
        self, image_bgr: np.ndarray, context: FrameContext, deadline: float | None = None
    ) -> Detections:
        with self.slot.lease() as lease:
            found = lease.model.classify_detections(image_bgr, context.regions)
        return replace(found, meta={**found.meta, "model_version": lease.version})

    def close(self) -> None:
        self.slot.close()
