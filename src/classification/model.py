"""A classifier version on disk: labels, a linear head, and the backbone it was trained on.

Two files: `classifier.json` (labels, backbone spec) and `head.npz` (weights, bias, feature
mean and scale; loaded with `allow_pickle=False`, so a hostile file cannot run code). The
head is useless on other features, so the backbone's checksums travel with it and the
engine refuses a backbone that differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classification.features import BackboneSpec

ENGINE = "classifier"
FORMAT = "yolo-features-linear-v1"
CONFIG_FILE = "classifier.json"
HEAD_FILE = "head.npz"


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class LinearHead:
    """Multinomial logistic regression on standardised features: softmax(W (x - mean)/scale + b)."""

    weights: np.ndarray  # (classes, dim)
    bias: np.ndarray  # (classes,)
    mean: np.ndarray  # (dim,)
    scale: np.ndarray  # (dim,)

    def __post_init__(self) -> None:
        classes, dim = self.weights.shape
        for name, shape in (("bias", (classes,)), ("mean", (dim,)), ("scale", (dim,))):
            if getattr(self, name).shape != shape:
                raise ValueError(f"head {name} must have shape {shape}, got {getattr(self, name).shape}")
        if not all(np.isfinite(getattr(self, n)).all() for n in ("weights", "bias", "mean", "scale")):
            raise ValueError("head holds NaN or infinite values")
        if (self.scale <= 0).any():
            raise ValueError("head feature scales must be positive")

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        standard = (features - self.mean) / self.scale
        return softmax(standard @ self.weights.T + self.bias)


@dataclass(frozen=True)
class ClassifierModel:
    labels: tuple[str, ...]
    head: LinearHead
    backbone: BackboneSpec

    def __post_init__(self) -> None:
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"a classifier needs two or more distinct labels, got {self.labels}")
        if self.head.weights.shape[0] != len(self.labels):
            raise ValueError(
                f"head has {self.head.weights.shape[0]} classes but the model names {len(self.labels)} labels"
            )

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(label index, probability) of the best class per feature row."""
        probabilities = self.head.probabilities(features)
        best = probabilities.argmax(axis=1)
        return best, probabilities[np.arange(len(best)), best]

    def save(self, folder: Path) -> dict[str, Path]:
        """Write the two files; returns them by their path inside a version."""
        folder.mkdir(parents=True, exist_ok=True)
        config = {"labels": list(self.labels), "backbone": self.backbone.to_dict()}
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        np.savez(
            folder / HEAD_FILE,
            weights=self.head.weights.astype(np.float32),
            bias=self.head.bias.astype(np.float32),
            mean=self.head.mean.astype(np.float32),
            scale=self.head.scale.astype(np.float32),
        )
        return {CONFIG_FILE: folder / CONFIG_FILE, HEAD_FILE: folder / HEAD_FILE}

    @classmethod
    def load(cls, folder: Path) -> ClassifierModel:
        """Read a version's files; ValueError naming the file for anything malformed."""
        try:
            config = json.loads((folder / CONFIG_FILE).read_text())
            labels = tuple(str(label) for label in config["labels"])
            backbone = BackboneSpec.from_dict(config["backbone"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{folder / CONFIG_FILE} is not a classifier config: {error}") from error
        try:
            with np.load(folder / HEAD_FILE, allow_pickle=False) as arrays:
                head = LinearHead(
                    *(np.asarray(arrays[k], np.float32) for k in ("weights", "bias", "mean", "scale"))
                )
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"{folder / HEAD_FILE} is not a classifier head: {error}") from error
        return cls(labels, head, backbone)
