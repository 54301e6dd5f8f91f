"""Inference backends for the YOLO engine.

A backend runs the network and nothing else: a float32 NCHW RGB blob in 0..1 in, and for
every YOLO output layer an array (N, rows, 5 + classes) out, each row
[cx, cy, w, h, objectness, class scores...] with coordinates relative to the input (0..1)
and class scores already multiplied by objectness (OpenCV's convention). Post-processing
(`yolodetection.postprocess`) is shared, so backends agree by construction past this point.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Backend(Protocol):
    name: str
    device: str

    def forward(self, blob: np.ndarray) -> list[np.ndarray]: ...
