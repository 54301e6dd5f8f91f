"""Server-drawn frames (`/video_feed`): captions name a recognised person; the mosaic tiles every camera."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from cameragateway.annotate import Annotator
from cameragateway.camera import Answer, Camera, Frame, HealthSettings
from liquidedge.detections import Detections
from liquidedge.drawing import caption, label_color_bgr
from meshtools.camera_emulator import load_frames


@pytest.mark.parametrize(
    ("label", "confidence", "identity", "text"),
    [
        ("person", 0.874, None, "person 0.87"),
        ("face", 0.91, "Ada", "face: Ada 0.91"),
        ("face", 0.91, "unknown", "face 0.91"),  # the recogniser's word for a stranger
        ("face", 0.91, "", "face 0.91"),
    ],
)
def test_caption(label: str, confidence: float, identity: object, text: str) -> None:
    assert caption(label, confidence, identity) == text


def camera_with_answer(name: str, jpeg: bytes) -> Camera:
    camera = Camera(name, "http://127.0.0.1:9/stream", "test", HealthSettings())
    found = Detections(
        xyxy=[[10, 10, 200, 200]], confidence=[0.9], label=["face"], engine=["face"]
    ).with_data(identity=["Ada"])
    camera.answered(
        Answer(Frame(1, time.time(), time.monotonic(), jpeg), found, 0.1, time.time(), [], {}, (640, 640))
    )
    return camera


def test_annotated_jpeg_and_mosaic() -> None:
    jpeg = load_frames("samples:astronaut")[0]
    annotator = Annotator()
    cameras = [camera_with_answer(f"cam{i}", jpeg) for i in range(3)]
    one = annotator.jpeg(cameras[0])
    assert one is not None and annotator.jpeg(cameras[0]) is one  # drawn once, then cached
    raw = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    drawn = cv2.imdecode(np.frombuffer(one, np.uint8), cv2.IMREAD_COLOR)
    assert drawn.shape == raw.shape
    # The box's left edge (x = 10, below the caption) is in the label's colour; the photo there is not.
    box = np.array(label_color_bgr("face"))
    assert np.abs(drawn[150, 10].astype(int) - box).max() < 60
    assert np.abs(raw[150, 10].astype(int) - box).max() > 60
    mosaic = cv2.imdecode(np.frombuffer(annotator.mosaic(cameras), np.uint8), cv2.IMREAD_COLOR)
    assert mosaic.shape == (2 * 360, 2 * 480, 3)  # three cameras: a 2x2 grid
    empty = cv2.imdecode(np.frombuffer(annotator.mosaic([]), np.uint8), cv2.IMREAD_COLOR)
    assert empty.shape == (360, 480, 3)
    assert Annotator().jpeg(Camera("none", "u", "t", HealthSettings())) is None
