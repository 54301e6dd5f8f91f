"""The frame path on the GPU: JPEG bytes in, detections out, pixels never leave the device.

On a CUDA machine with torchvision, JPEGs are decoded by nvJPEG straight into GPU memory
(`torchvision.io.decode_jpeg(device="cuda")`), resized and scaled to 0..1 there and fed to
the torch backend; only the small YOLO rows and a few box-centre colours come back to the
host. Without CUDA or torchvision (this CPU build of torch cannot have torchvision) frames
are decoded with OpenCV and the rest runs the same code on the CPU, so the path is tested
everywhere and only the decoder differs.

Frame limits are checked on the JPEG header (`liquidedge.imaging.check_frame`) before any
decoder allocates pixels. torch is imported when a `FramePreprocessor` is built, never at
import time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from liquidedge.detections import Detections
from liquidedge.errors import BadImageError
from liquidedge.imaging import ImageLimits, center_patches, check_frame
from yolodetection.engine import YoloSettings
from yolodetection.postprocess import decode_yolo_rows

if TYPE_CHECKING:
    import torch

    from yolodetection.backends.torch_backend import TorchBackend

log = logging.getLogger(__name__)


def nvjpeg_available(device: torch.device) -> bool:
    """nvJPEG needs a CUDA device and torchvision (absent beside a CPU-only torch build)."""
    if device.type != "cuda":
        return False
    try:
        import torchvision.io  # noqa: F401
    except ImportError:
        log.warning("torchvision is not installed: JPEGs are decoded on the CPU, then uploaded")
        return False
    return True


class FramePreprocessor:
    """JPEG bytes to a (N, 3, H, W) float blob in 0..1 on the device, Darknet style.

    Darknet's input is a plain resize (no letterbox) of the RGB frame. OpenCV's blob resizes
    8-bit pixels, so the resized values are rounded the same way here.
    """

    def __init__(
        self, input_wh: tuple[int, int], device: torch.device, *, use_nvjpeg: bool | None = None
    ) -> None:
        import torch

        self.torch = torch
        self.input_wh = input_wh
        self.device = device
        self.uses_nvjpeg = nvjpeg_available(device) if use_nvjpeg is None else use_nvjpeg
        if self.uses_nvjpeg and device.type != "cuda":
            raise ValueError("nvJPEG decoding needs a CUDA device")

    def decode(self, jpegs: Sequence[bytes]) -> list[torch.Tensor]:
        """Each frame as a uint8 (3, H, W) RGB tensor on the device."""
        torch = self.torch
        if self.uses_nvjpeg:
            from torchvision.io import ImageReadMode, decode_jpeg

            data = [torch.frombuffer(bytearray(jpeg), dtype=torch.uint8) for jpeg in jpegs]
            try:
                return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device))
            except RuntimeError as error:
                raise BadImageError(f"JPEG could not be decoded on the GPU: {error}") from error
        images = []
        for jpeg in jpegs:
            bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise BadImageError("JPEG could not be decoded (corrupt entropy-coded data)")
            rgb = torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)
            if self.device.type == "cuda":
                rgb = rgb.pin_memory().to(self.device, non_blocking=True)
            images.append(rgb)
        return images

    def to_blob(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """Resize and normalise on the device; frames of one size are resized in one call."""
        torch = self.torch
        width, height = self.input_wh
        blob = torch.empty((len(images), 3, height, width), dtype=torch.float32, device=self.device)
        by_size: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            by_size.setdefault(tuple(image.shape[1:]), []).append(index)
        for indices in by_size.values():
            stacked = torch.stack([images[i] for i in indices]).float()
            resized = torch.nn.functional.interpolate(
                stacked, size=(height, width), mode="bilinear", align_corners=False, antialias=False
            )
            blob[indices] = resized.round_().clamp_(0, 255).div_(255.0)
        return blob


def device_center_colors(
    image_rgb: torch.Tensor, xyxy: np.ndarray, patch_fraction: float = 0.2
) -> np.ndarray:
    """`liquidedge.imaging.center_colors` for a (3, H, W) RGB tensor: same patches, one copy back."""
    import torch

    height, width = int(image_rgb.shape[1]), int(image_rgb.shape[2])
    if len(xyxy) == 0:
        return np.zeros((0, 3), np.uint8)
    means = []
    for top, bottom, left, right in center_patches(xyxy, width, height, patch_fraction):
        means.append(image_rgb[:, top:bottom, left:right].double().mean(dim=(1, 2)))
    return np.round(torch.stack(means).cpu().numpy()).astype(np.uint8)


class GpuYoloPipeline:
    """JPEG frames to `Detections` with the torch backend, decode and resize on its device.

    `detect_batch(jpegs)` has the shape `yolodetection.batching.DynamicBatcher` drives, so a
    batcher can gather JPEG frames for it just as it gathers decoded images for an engine.
    """

    name = "yolo"

    def __init__(
        self,
        backend: TorchBackend,
        class_names: Sequence[str],
        settings: YoloSettings,
        *,
        limits: ImageLimits = ImageLimits(),  # noqa: B008 - frozen dataclass
        use_nvjpeg: bool | None = None,
    ) -> None:
        self.backend = backend
        self.class_names = tuple(class_names)
        self.labels = self.class_names
        self.settings = settings
        self.limits = limits
        self.preprocessor = FramePreprocessor(backend.input_wh, backend.torch_device, use_nvjpeg=use_nvjpeg)

    def detect(self, jpeg: bytes, deadline: float | None = None) -> Detections:
        return self.detect_batch([jpeg])[0]

    def detect_batch(self, jpegs: Sequence[bytes]) -> list[Detections]:
        if not jpegs:
            return []
        sizes = [check_frame(jpeg, self.limits) for jpeg in jpegs]
        images = self.preprocessor.decode(jpegs)
        for (width, height), image in zip(sizes, images, strict=True):
            if (int(image.shape[2]), int(image.shape[1])) != (width, height):
                raise BadImageError(
                    f"JPEG header says {width}x{height} but decodes to {image.shape[2]}x{image.shape[1]}"
                )
        outputs = self.backend.forward_tensor(self.preprocessor.to_blob(images))
        row_counts = [out.shape[1] for out in outputs]
        # One device-to-host copy for every layer of every frame.
        rows = np.split(
            self.preprocessor.torch.cat(outputs, dim=1).float().cpu().numpy(),
            np.cumsum(row_counts)[:-1],
            axis=1,
        )
        answers = []
        for i, (image, (width, height)) in enumerate(zip(images, sizes, strict=True)):
            found = decode_yolo_rows(
                [layer[i] for layer in rows],
                image_wh=(width, height),
                class_names=self.class_names,
                score_threshold=self.settings.score_threshold,
                nms_threshold=self.settings.nms_threshold,
                engine_name=self.name,
            )
            answers.append(found.with_colors(device_center_colors(image, found.xyxy)))
        return answers
