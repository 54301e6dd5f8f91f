from __future__ import annotations

import numpy as np
import pytest

from liquidedge.detections import Detections


def make(labels: list[str], confidences: list[float]) -> Detections:
    n = len(labels)
    xyxy = np.array([[i, i, i + 10, i + 20] for i in range(n)], np.float32).reshape(n, 4)
    return Detections(xyxy=xyxy, confidence=confidences, label=labels, engine=["yolo"] * n)


def test_shapes_are_validated_with_a_message_naming_the_field() -> None:
    with pytest.raises(ValueError, match="confidence must have shape"):
        Detections(xyxy=np.zeros((2, 4)), confidence=[0.5], label=["a", "b"], engine=["x", "y"])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["cat", "person", "face", "dog"]),  # no filter: sorted by confidence
        ({"min_confidence": 0.5}, ["cat", "person", "face"]),  # floor is inclusive
        ({"classes": ["person", "dog"]}, ["person", "dog"]),  # label filter
        ({"max_results": 2}, ["cat", "person"]),  # top-k by confidence
        ({"classes": ["nothing"]}, []),  # nothing matches
        ({"min_confidence": 0.5, "max_results": 1, "classes": ["face", "person"]}, ["person"]),
    ],
)
def test_filtered(kwargs: dict, expected: list[str]) -> None:
    found = make(["person", "dog", "cat", "face"], [0.8, 0.3, 0.9, 0.5])
    assert list(found.filtered(**kwargs).label) == expected


def test_merge_and_xywh() -> None:
    merged = Detections.merge([make(["a"], [0.1]), Detections.empty(), make(["b", "c"], [0.2, 0.3])])
    assert list(merged.label) == ["a", "b", "c"]
    box = Detections(xyxy=[[1.2, 2.7, 10.1, 20.0]], confidence=[1], label=["x"], engine=["y"])
    assert box.xywh.tolist() == [[1, 2, 10, 18]]
    assert len(Detections.merge([])) == 0
