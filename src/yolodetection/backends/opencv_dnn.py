"""OpenCV DNN backend: Darknet cfg/weights through `cv2.dnn`, CUDA when OpenCV has it."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from liquidedge.engine import InstancePool
from yolodetection.model_files import ModelFiles

log = logging.getLogger(__name__)


def opencv_has_cuda() -> bool:
    """True only when this OpenCV was built with CUDA and sees a device (PyPI wheels never do)."""
    try:
        return cv2.cuda.getCudaEnabledDeviceCount() > 0
    except cv2.error:
        return False


class OpenCVBackend:
    name = "opencv"

    def __init__(self, files: ModelFiles, *, prefer_cuda: bool = True, instances: int = 1) -> None:
        files.check()
        self.device = "cuda" if prefer_cuda and opencv_has_cuda() else "cpu"
        if prefer_cuda and self.device == "cpu":
            log.info("OpenCV has no CUDA device; YOLO runs on the CPU backend")
        self._pool = InstancePool(lambda: self._load(files), instances)

    def _load(self, files: ModelFiles) -> tuple[cv2.dnn.Net, list[str]]:
        net = cv2.dnn.readNetFromDarknet(str(files.cfg), str(files.weights))
        if self.device == "cuda":
            net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
            net.setPreferableTarget(cv2.dnn.DNN_TARGET_CUDA_FP16)
        else:
            net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        return net, list(net.getUnconnectedOutLayersNames())

    def forward(self, blob: np.ndarray) -> list[np.ndarray]:
        batch = blob.shape[0]
        with self._pool.borrow() as (net, output_names):
            net.setInput(blob)
            outputs = net.forward(output_names)
        # OpenCV drops the batch axis for a batch of one; put it back so shapes never depend on N.
        return [np.asarray(out).reshape(batch, -1, out.shape[-1]) for out in outputs]
