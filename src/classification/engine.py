"""Classification engine: BGR image in, `Detections` with classes out. No gRPC.

Two uses. `detect(image)` labels the whole frame (one box covering it: what surface is the
robot on?). `classify_detections(image, found)` labels the crops of chosen detections (what
kind of product is that bottle?) and returns them with `class`, `class_confidence` and
`model_version` in the per-box attribute bag; boxes not chosen, or too small to crop, carry
no class.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from classification.features import BackboneFeatures
from classification.model import ClassifierModel
from liquidedge.detections import Detections
from liquidedge.imaging import center_colors

ENGINE_NAME = "classifier"


class BackboneMismatch(ValueError):
    """The head was trained on features of another network than the one given."""


class ClassificationEngine:
    name = ENGINE_NAME

    def __init__(
        self,
        model: ClassifierModel,
        features: BackboneFeatures,
        *,
        version: str = "",
        crop_labels: Collection[str] = (),
        min_crop_side: int = 16,
    ) -> None:
        if model.backbone != features.spec:
            raise BackboneMismatch(
                f"classifier {version or '(unversioned)'} was trained on {model.backbone.describe()} "
                f"but the engine was given {features.spec.describe()}"
            )
        self.model = model
        self.features = features
        self.version = version
        self.crop_labels = frozenset(crop_labels)
        self.min_crop_side = min_crop_side

    @classmethod
    def from_files(
        cls,
        model_dir: Path,
        backbone_cfg: Path,
        backbone_weights: Path,
        *,
        version: str = "",
        **options: object,
    ) -> ClassificationEngine:
        """Load a classifier version (already verified by the model store) onto the backbone files."""
        model = ClassifierModel.load(Path(model_dir))
        features = BackboneFeatures(
            backbone_cfg, backbone_weights, layer=model.backbone.layer, input_size=model.backbone.input_size
        )
        return cls(model, features, version=version, **options)  # type: ignore[arg-type]

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model.labels

    def warm_up(self) -> None:
        self.classify([np.zeros((64, 64, 3), np.uint8)])

    def classify(self, images_bgr: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(label, confidence) arrays for images (whole frames or crops), in order."""
        if not images_bgr:
            return np.zeros(0, object), np.zeros(0, np.float32)
        best, confidence = self.model.predict(self.features.extract(images_bgr))
        return np.asarray(self.labels, object)[best], confidence.astype(np.float32)

    def detect(self, image_bgr: np.ndarray, deadline: float | None = None) -> Detections:
        """The whole frame as one box labelled with its class."""
        return self.detect_batch([image_bgr])[0]

    def detect_batch(self, images_bgr: Sequence[np.ndarray]) -> list[Detections]:
        """Each whole frame as one box labelled with its class, the backbone run once for all."""
        labels, confidence = self.classify(images_bgr)
        return [
            self._whole_frame(image, labels[i : i + 1], confidence[i : i + 1])
            for i, image in enumerate(images_bgr)
        ]

    def _whole_frame(self, image_bgr: np.ndarray, label: np.ndarray, confidence: np.ndarray) -> Detections:
        height, width = image_bgr.shape[:2]
        xyxy = np.array([[0, 0, width, height]], np.float32)
        found = Detections(xyxy=xyxy, confidence=confidence, label=label, engine=[self.name])
        return found.with_colors(center_colors(image_bgr, xyxy)).with_data(
            **{"class": label, "class_confidence": confidence, "model_version": [self.version]}
        )

    def _crop(self, image_bgr: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        height, width = image_bgr.shape[:2]
        x1, y1, x2, y2 = box
        left, top = int(max(0, np.floor(x1))), int(max(0, np.floor(y1)))
        right, bottom = int(min(width, np.ceil(x2))), int(min(height, np.ceil(y2)))
        if min(right - left, bottom - top) < self.min_crop_side:
            return None
        return image_bgr[top:bottom, left:right]

    def classify_detections(self, image_bgr: np.ndarray, found: Detections) -> Detections:
        """`found` with each chosen box's crop classified (all boxes when no labels were chosen)."""
        classes = np.full(len(found), None, object)
        confidence = np.full(len(found), np.nan, np.float32)
        versions = np.full(len(found), None, object)
        chosen = [i for i in range(len(found)) if not self.crop_labels or found.label[i] in self.crop_labels]
        crops = {i: self._crop(image_bgr, found.xyxy[i]) for i in chosen}
        kept = [i for i, crop in crops.items() if crop is not None]
        labels, scores = self.classify([crops[i] for i in kept])
        for i, label, score in zip(kept, labels, scores, strict=True):
            classes[i], confidence[i], versions[i] = label, score, self.version
        return found.with_data(
            **{"class": classes, "class_confidence": confidence, "model_version": versions}
        )
