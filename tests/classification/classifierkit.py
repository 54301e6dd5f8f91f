"""A classifier head trained on crops of the sample textures, for the classification tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from classification.features import BackboneFeatures
from classification.model import ClassifierModel
from modeltrainer.fit import fit_linear_head
from modeltrainer.sample_dataset import TRAIN_ROWS, random_crops, texture_bgr


def trained_model(
    features: BackboneFeatures, labels: Sequence[str], per_label: int, max_iterations: int = 300
) -> ClassifierModel:
    """A head trained on `per_label` crops from the top 70% of each label's photograph."""
    rng = np.random.default_rng(0)
    images, targets = [], []
    for number, label in enumerate(labels):
        crops = random_crops(texture_bgr(label), per_label, rng, TRAIN_ROWS)
        images += crops
        targets += [number] * len(crops)
    head = fit_linear_head(
        features.extract(images), np.asarray(targets), len(labels), l2=0.01, max_iterations=max_iterations
    )
    return ClassifierModel(tuple(labels), head, features.spec)
