"""Detections to v1 messages and back: the attribute bag crosses the wire."""

from __future__ import annotations

import numpy as np
import pytest

from liquidedge.detections import Detections
from liquidedge.messages import detections_from_proto, detections_to_proto


def test_attributes_cross_the_wire_and_come_back() -> None:
    found = Detections(
        xyxy=[[10, 20, 110, 140], [0, 0, 50, 50], [5, 5, 25, 25]],
        confidence=[0.9, 0.8, 0.7],
        label=["face", "person", "face"],
        engine=["face", "yolo", "face"],
        data={"identity": ["alice", None, "unknown"], "distance": [0.31, np.nan, 0.72]},
    )
    wire = detections_to_proto(found)
    assert dict(wire[0].attributes) == {"identity": "alice", "distance": pytest.approx(0.31)}
    assert not wire[1].HasField("attributes")  # nothing to say about the person
    back = detections_from_proto(wire)
    assert back.data["identity"].tolist() == ["alice", None, "unknown"]
    assert back.data["distance"].dtype.kind == "f"
    assert back.data["distance"][[0, 2]] == pytest.approx([0.31, 0.72])
    assert np.isnan(back.data["distance"][1])


def test_detections_without_attributes_have_an_empty_bag() -> None:
    found = Detections(xyxy=[[1, 2, 3, 4]], confidence=[0.5], label=["cat"], engine=["yolo"])
    back = detections_from_proto(detections_to_proto(found))
    assert back.data == {}
    assert back.xywh.tolist() == [[1, 2, 2, 2]]
