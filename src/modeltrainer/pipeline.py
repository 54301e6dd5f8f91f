"""Dataset version in, classifier version out: split, features, head, compare, publish.

The new head is measured on a held-out split of the dataset. The version the channel
serves now (if it knows the same labels) is measured on the very same held-out images, and
the new version is published and promoted only when it is at least as accurate; otherwise
the outcome says why it was refused and the store is untouched.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from classification.features import BackboneFeatures
from classification.model import ENGINE, FORMAT, ClassifierModel
from datasetingest.ingest import DATASET_ENGINE
from modelstore.fetch import fetch_verified
from modelstore.store import PARENT_LATEST, ModelStore, StoredVersion
from modeltrainer.dataset import LabelledImages, load_dataset
from modeltrainer.fit import fit_linear_head, stratified_split

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    model_name: str = "classifier"
    channel: str = "production"
    holdout_fraction: float = 0.25
    seed: int = 0
    l2: float = 0.01
    max_iterations: int = 300
    promote: bool = True


@dataclass(frozen=True)
class TrainOutcome:
    dataset: str
    dataset_version: str
    accuracy: float
    train_images: int
    held_out_images: int
    baseline_version: str | None = None
    baseline_accuracy: float | None = None
    published: StoredVersion | None = None
    reason: str = ""
    per_label: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "dataset_version": self.dataset_version,
            "heldout_accuracy": round(self.accuracy, 4),
            "per_label_accuracy": {k: round(v, 4) for k, v in self.per_label.items()},
            "train_images": self.train_images,
            "heldout_images": self.held_out_images,
            "baseline_version": self.baseline_version,
            "baseline_accuracy": None if self.baseline_accuracy is None else round(self.baseline_accuracy, 4),
            "published": None if self.published is None else self.published.version,
            "reason": self.reason,
        }


def _accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    return float((predicted == truth).mean()) if len(truth) else 0.0


class Trainer:
    def __init__(
        self, store: ModelStore, features: BackboneFeatures, cache_dir: Path, settings: TrainSettings
    ) -> None:
        self.store = store
        self.features = features
        self.cache_dir = Path(cache_dir)
        self.settings = settings

    def _baseline(
        self, data: LabelledImages, held_out: np.ndarray, held_out_features: np.ndarray
    ) -> tuple[StoredVersion | None, float | None, str]:
        """The serving version, its accuracy on our held-out images, or why it cannot be compared."""
        s = self.settings
        state = self.store.channel(s.model_name, s.channel)
        if state is None:
            return None, None, f"no version on channel {s.channel} yet"
        current = self.store.get(s.model_name, state.version)
        local = fetch_verified(
            self.store,
            s.model_name,
            state.version,
            self.cache_dir,
            expect_engine=ENGINE,
            expect_manifest_sha256=state.manifest_sha256,
        )
        model = ClassifierModel.load(local.path)
        if set(model.labels) != set(data.labels):
            return current, None, f"labels changed ({sorted(model.labels)} -> {sorted(data.labels)})"
        features = held_out_features
        if model.backbone != self.features.spec:
            if (model.backbone.cfg_sha256, model.backbone.weights_sha256) != (
                self.features.spec.cfg_sha256,
                self.features.spec.weights_sha256,
            ):
                return current, None, "the serving version uses another backbone network"
            other = BackboneFeatures(
                self.features.cfg,
                self.features.weights,
                layer=model.backbone.layer,
                input_size=model.backbone.input_size,
            )
            features = other.extract([data.images[i] for i in held_out])
        best, _ = model.predict(features)
        # the serving model's label order may differ from this dataset's (sorted) order
        mapped = np.asarray([data.labels.index(model.labels[b]) for b in best])
        return current, _accuracy(mapped, data.targets[held_out]), ""

    def train(self, dataset: str, dataset_version: str | None = None) -> TrainOutcome:
        s = self.settings
        if dataset_version is None:
            latest = self.store.latest(dataset, kind="dataset")
            if latest is None:
                raise LookupError(f"dataset {dataset} has no published version")
            dataset_version = latest.version
        local = fetch_verified(
            self.store, dataset, dataset_version, self.cache_dir, kind="dataset", expect_engine=DATASET_ENGINE
        )
        data = load_dataset(local)
        train, held_out = stratified_split(data.targets, s.holdout_fraction, s.seed)
        features = self.features.extract(data.images)
        head = fit_linear_head(
            features[train], data.targets[train], len(data.labels), l2=s.l2, max_iterations=s.max_iterations
        )
        model = ClassifierModel(data.labels, head, self.features.spec)
        predicted, _ = model.predict(features[held_out])
        truth = data.targets[held_out]
        accuracy = _accuracy(predicted, truth)
        per_label = {
            label: _accuracy(predicted[truth == i], truth[truth == i]) for i, label in enumerate(data.labels)
        }
        current, baseline, why_not = self._baseline(data, held_out, features[held_out])
        outcome = TrainOutcome(
            dataset=dataset,
            dataset_version=dataset_version,
            accuracy=accuracy,
            train_images=len(train),
            held_out_images=len(held_out),
            baseline_version=None if current is None else current.version,
            baseline_accuracy=baseline,
            per_label=per_label,
        )
        log.info(
            "trained %s on %s %s: held-out accuracy %.3f (%d images), serving version %s: %s",
            s.model_name,
            dataset,
            dataset_version,
            accuracy,
            len(held_out),
            outcome.baseline_version,
            "n/a" if baseline is None else f"{baseline:.3f}",
            extra={"accuracy": accuracy, "baseline_accuracy": baseline},
        )
        if baseline is not None and accuracy < baseline:
            reason = (
                f"refused: held-out accuracy {accuracy:.3f} is below {baseline:.3f} of the serving version "
                f"{outcome.baseline_version} on the same {len(held_out)} held-out images"
            )
            log.warning("%s", reason)
            return replace(outcome, reason=reason)
        published = self._publish(model, outcome, data, held_out, current, why_not)
        return replace(
            outcome, published=published, reason=why_not or "at least as accurate as the serving version"
        )

    def _publish(
        self,
        model: ClassifierModel,
        outcome: TrainOutcome,
        data: LabelledImages,
        held_out: np.ndarray,
        current: StoredVersion | None,
        why_not_compared: str,
    ) -> StoredVersion:
        s = self.settings
        metrics: dict[str, Any] = {
            "heldout_accuracy": round(outcome.accuracy, 6),
            "heldout_images": outcome.held_out_images,
            "train_images": outcome.train_images,
            "per_label_accuracy": {k: round(v, 6) for k, v in outcome.per_label.items()},
        }
        if outcome.baseline_accuracy is not None:
            metrics["baseline_accuracy"] = round(outcome.baseline_accuracy, 6)
        meta = {
            "labels": list(model.labels),
            "dataset": outcome.dataset,
            "dataset_version": outcome.dataset_version,
            "backbone": model.backbone.to_dict(),
            "heldout_files": [data.files[i] for i in held_out],
            "compared_with": outcome.baseline_version,
            "not_compared_because": why_not_compared,
            "trainer": {"l2": s.l2, "seed": s.seed, "holdout_fraction": s.holdout_fraction},
        }
        with tempfile.TemporaryDirectory() as tmp:
            files = model.save(Path(tmp))
            parent = current.version if current is not None else PARENT_LATEST
            stored = self.store.publish(
                s.model_name, files, engine=ENGINE, format=FORMAT, parent=parent, metrics=metrics, meta=meta
            )
        if s.promote:
            note = f"held-out accuracy {outcome.accuracy:.3f}" + (
                f" >= {outcome.baseline_accuracy:.3f} of {outcome.baseline_version}"
                if outcome.baseline_accuracy is not None
                else ""
            )
            self.store.promote(s.model_name, stored.version, s.channel, note=note)
        return stored
