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


def with_identities(labels: list[str], names: list[object], distances: list[float]) -> Detections:
    return make(labels, [0.9 - 0.1 * i for i in range(len(labels))]).with_data(
        identity=names, distance=distances
    )


def test_attributes_follow_their_boxes_through_filtering_and_top_k() -> None:
    found = make(["face", "person", "face"], [0.4, 0.9, 0.7]).with_data(
        identity=["alice", None, "bob"], distance=[0.31, np.nan, 0.45]
    )
    kept = found.filtered(classes=["face"], max_results=1)
    assert list(kept.label) == ["face"]
    assert kept.attributes(0) == {"identity": "bob", "distance": pytest.approx(0.45)}
    assert found.filtered().attributes(0) == {}  # the person has no identity: nothing invented


def test_merge_fills_attributes_a_part_lacks() -> None:
    faces = with_identities(["face", "face"], ["alice", "unknown"], [0.3, 0.7])
    objects = make(["person"], [0.8])
    merged = Detections.merge([objects, faces])
    assert merged.data["identity"].tolist() == [None, "alice", "unknown"]
    assert merged.data["distance"].dtype.kind == "f"  # numbers stay numbers, NaN where missing
    assert np.isnan(merged.data["distance"][0])
    assert [merged.attributes(i) for i in range(3)] == [
        {},
        {"identity": "alice", "distance": pytest.approx(0.3)},
        {"identity": "unknown", "distance": pytest.approx(0.7)},
    ]


@pytest.mark.parametrize(
    ("column", "error"),
    [
        ([1.0], r"data\['distance'\] must have shape \(2,\)"),  # one value for two boxes
        ([[1.0, 2.0], [3.0, 4.0]], r"data\['distance'\] must have shape \(2,\)"),  # not per box
    ],
)
def test_attribute_shapes_are_validated(column: list, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        make(["a", "b"], [0.1, 0.2]).with_data(distance=column)
