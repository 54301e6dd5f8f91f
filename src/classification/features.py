"""Frozen features of the YOLO backbone we already ship, through OpenCV DNN.

The Darknet network is read as the YOLO service reads it, but run only up to one
intermediate layer (`cv2.dnn.Net.forward(name)` computes just what that layer needs);
its activations are pooled over space (mean and max per channel) into one vector per image.
Transfer learning then needs only a linear head on top, which trains on a CPU in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from liquidedge.engine import InstancePool
from modelstore.manifest import sha256_file

DEFAULT_LAYER = "leaky_11"
DEFAULT_INPUT = 160


@dataclass(frozen=True)
class BackboneSpec:
    """Which network, layer and input size produced a head's features (kept with the head)."""

    cfg_sha256: str
    weights_sha256: str
    layer: str = DEFAULT_LAYER
    input_size: int = DEFAULT_INPUT

    def describe(self) -> str:
        return (
            f"layer {self.layer} at {self.input_size}px of cfg {self.cfg_sha256[:12]} "
            f"/ weights {self.weights_sha256[:12]}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "cfg_sha256": self.cfg_sha256,
            "weights_sha256": self.weights_sha256,
            "layer": self.layer,
            "input_size": self.input_size,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BackboneSpec:
        return cls(
            cfg_sha256=str(raw["cfg_sha256"]),
            weights_sha256=str(raw["weights_sha256"]),
            layer=str(raw["layer"]),
            input_size=int(raw["input_size"]),
        )


class BackboneFeatures:
    """Pooled activations of `layer` for a batch of BGR images; thread-safe through a pool."""

    def __init__(
        self,
        cfg: Path,
        weights: Path,
        *,
        layer: str = DEFAULT_LAYER,
        input_size: int = DEFAULT_INPUT,
        instances: int = 1,
        batch: int = 16,
    ) -> None:
        if input_size < 32 or input_size % 32:
            raise ValueError(f"input_size must be a positive multiple of 32, got {input_size}")
        self.cfg, self.weights = Path(cfg), Path(weights)
        for path in (self.cfg, self.weights):
            if not path.is_file():
                raise FileNotFoundError(f"backbone file {path} is missing (run `make models`)")
        self.spec = BackboneSpec(sha256_file(self.cfg)[0], sha256_file(self.weights)[0], layer, input_size)
        self.batch = batch
        self._pool = InstancePool(self._load, instances)
        self.dim = int(self.extract([np.zeros((input_size, input_size, 3), np.uint8)]).shape[1])

    def _load(self) -> cv2.dnn.Net:
        net = cv2.dnn.readNetFromDarknet(str(self.cfg), str(self.weights))
        names = net.getLayerNames()
        if self.spec.layer not in names:
            activations = [n for n in names if n.startswith("leaky_")]
            raise ValueError(f"layer {self.spec.layer!r} is not in {self.cfg.name}; try one of {activations}")
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        return net

    def extract(self, images_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 2 x channels) float32: per channel, the mean and the max over the feature map."""
        size = (self.spec.input_size, self.spec.input_size)
        parts = []
        for start in range(0, len(images_bgr), self.batch):
            chunk = list(images_bgr[start : start + self.batch])
            blob = cv2.dnn.blobFromImages(chunk, 1.0 / 255.0, size, swapRB=True, crop=False)
            with self._pool.borrow() as net:
                net.setInput(blob)
                out = np.asarray(net.forward(self.spec.layer))
            maps = out.reshape(len(chunk), out.shape[1], -1)  # (N, channels, H x W)
            parts.append(np.concatenate([maps.mean(axis=2), maps.max(axis=2)], axis=1))
        if not parts:
            return np.zeros((0, getattr(self, "dim", 0)), np.float32)
        return np.concatenate(parts).astype(np.float32)
