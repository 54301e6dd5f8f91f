"""Real sample frames for demos, tests and benchmarks, from scikit-image's bundled images.

scikit-image ships these photographs inside its wheel (no download), so a fresh machine can
drive the mesh with real faces and objects. Frames are resized to the robot camera's size
and JPEG-encoded the way a robot sends them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from liquidedge.imaging import encode_jpeg

SAMPLE_NAMES = ("astronaut", "coffee", "chelsea", "camera", "rocket")


@dataclass(frozen=True)
class SampleFrame:
    name: str
    image_bgr: np.ndarray
    jpeg: bytes


def sample_image_bgr(name: str) -> np.ndarray:
    import skimage.data  # demo/dev extra: imported only where sample frames are wanted

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2BGR)


def sample_frames(
    names: tuple[str, ...] = SAMPLE_NAMES, size_wh: tuple[int, int] = (640, 480), quality: int = 85
) -> list[SampleFrame]:
    frames = []
    for name in names:
        resized = cv2.resize(sample_image_bgr(name), size_wh, interpolation=cv2.INTER_AREA)
        jpeg = encode_jpeg(resized, quality)
        decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        frames.append(SampleFrame(name, decoded, jpeg))
    return frames
