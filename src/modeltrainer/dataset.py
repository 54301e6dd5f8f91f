"""A dataset version (fetched and verified by the store) as decoded images and label indices."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass

import cv2
import numpy as np

from datasetingest.ingest import IMAGES_FILE, INDEX_FILE
from modelstore.fetch import LocalVersion


@dataclass(frozen=True)
class LabelledImages:
    images: list[np.ndarray]
    targets: np.ndarray  # (N,) int: index into `labels`
    labels: tuple[str, ...]
    files: tuple[str, ...]


def load_dataset(local: LocalVersion) -> LabelledImages:
    """Decode every image of a dataset version written by the ingest (labels sorted by name)."""
    index = json.loads(local.file(INDEX_FILE).read_text())["labels"]
    labels = tuple(sorted(index))
    images, targets, files = [], [], []
    with zipfile.ZipFile(local.file(IMAGES_FILE)) as archive:
        for number, label in enumerate(labels):
            for entry in index[label]:
                data = np.frombuffer(archive.read(entry["file"]), np.uint8)
                image = cv2.imdecode(data, cv2.IMREAD_COLOR)
                if image is None:
                    raise ValueError(f"{local.name} {local.version}: {entry['file']} does not decode")
                images.append(image)
                targets.append(number)
                files.append(entry["file"])
    return LabelledImages(images, np.asarray(targets, np.int64), labels, tuple(files))
