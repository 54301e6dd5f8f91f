"""Case (a): the engines in-process, no gRPC: the ceiling the services are measured against.

Engines are built by the services' own `__main__` code from the same flags, so "the same
work" really is the same: same backend, model, thresholds and batching.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from liquidedge.detections import Detections
from liquidedge.imaging import ImageLimits, decode_jpeg
from meshtools.bench.load import Stream
from meshtools.samples import SampleFrame

log = logging.getLogger(__name__)


def yolo_args(flags: Sequence[str]) -> argparse.Namespace:
    from yolodetection.service import build_parser

    return build_parser().parse_args(list(flags))


@dataclass
class InProcessEngines:
    """The face engine, the YOLO engine unbatched, and the YOLO engine behind a batcher."""

    face: Any
    yolo: Any
    yolo_batched: Any | None
    frames: Sequence[SampleFrame]
    limits: ImageLimits = field(default_factory=ImageLimits)
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(128, "bench-fanout"))

    @classmethod
    def build(
        cls, frames: Sequence[SampleFrame], yolo_flags: Sequence[str], face_flags: Sequence[str]
    ) -> InProcessEngines:
        from facedetection.engine import FaceEngine
        from facedetection.service import build_parser as face_parser
        from facedetection.service import settings_from
        from yolodetection.batching import DynamicBatcher
        from yolodetection.service import load_engine

        face = FaceEngine(settings_from(face_parser().parse_args(list(face_flags))))
        served = load_engine(yolo_args(yolo_flags))
        if isinstance(served, DynamicBatcher):
            return cls(face, served.engine, served, frames)
        return cls(face, served, None, frames)

    @property
    def yolo_served(self) -> Any:
        """What the YOLO service runs: the batcher when batching is on."""
        return self.yolo_batched or self.yolo

    def close(self) -> None:
        if self.yolo_batched is not None:
            self.yolo_batched.close()
        self.pool.shutdown(wait=False)

    def _decode(self, index: int) -> np.ndarray:
        return decode_jpeg(self.frames[index % len(self.frames)].jpeg, self.limits).image_bgr

    def engine_stream(self, engine: Any) -> Stream:
        """One robot's frames through one engine: decode, detect."""
        return Stream(lambda i: engine.detect(self._decode(i)))

    def mesh_stream(self) -> Stream:
        """The mesh's work without the network: decode, face and YOLO concurrently, merge."""

        def send(i: int) -> Detections:
            image = self._decode(i)
            face = self.pool.submit(self.face.detect, image)
            yolo = self.yolo_served.detect(image)
            return Detections.merge([face.result(), yolo])

        return Stream(send)


def model_only_work(backend: Any, input_wh: tuple[int, int], batch: int) -> Any:
    """Forward passes only, input already prepared (on the device for torch): the model's ceiling."""
    width, height = input_wh
    blob = np.random.default_rng(0).random((batch, 3, height, width), np.float32)
    if hasattr(backend, "forward_tensor"):
        import torch

        tensor = torch.from_numpy(blob).to(backend.torch_device)

        def run_torch() -> int:
            outputs = backend.forward_tensor(tensor)
            if backend.torch_device.type == "cuda":
                torch.cuda.synchronize(backend.torch_device)
            del outputs
            return batch

        return run_torch

    def run() -> int:
        backend.forward(blob)
        return batch

    return run


def decode_work(frames: Sequence[SampleFrame], batch: int, device: str) -> tuple[str, Any]:
    """JPEG decoding alone: OpenCV on one CPU core, or nvJPEG when on CUDA with torchvision."""
    jpegs = [frames[i % len(frames)].jpeg for i in range(batch)]
    if device.startswith("cuda"):
        import torch

        from yolodetection.gpu_frames import FramePreprocessor

        pre = FramePreprocessor((416, 416), torch.device(device))
        if pre.uses_nvjpeg:

            def run_gpu() -> int:
                pre.decode(jpegs)
                torch.cuda.synchronize()
                return batch

            return "nvjpeg", run_gpu

    def run() -> int:
        for jpeg in jpegs:
            cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        return batch

    return "opencv-1-core", run
