"""Real sample frames for demos, tests and benchmarks, from scikit-image's bundled images.

scikit-image ships these photographs inside its wheel (no download), so a fresh machine can
drive the mesh with real faces and objects. Frames are resized to the robot camera's size
and JPEG-encoded the way a robot sends them. `photo_frames` adds the people of the default
face gallery (photos `make recognition-models` fetched), so a newcomer sees names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from liquidedge.imaging import encode_jpeg

SAMPLE_NAMES = ("astronaut", "coffee", "chelsea", "camera", "rocket")
# Photos of the default gallery's people: other photos than the enrolled obama.jpg (obama2,
# obama3), and Biden's only photo, mirrored; tall photos cropped to their upper half, where
# the face is, so it is well over recognition's 60 px in a 640x480 frame.
PHOTO_FRAMES = ("obama2", "obama3", "biden")


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


def letterboxed(image_bgr: np.ndarray, size_wh: tuple[int, int] = (640, 480)) -> np.ndarray:
    """The image shrunk to fit `size_wh`, centred on grey (a photo as a camera frame)."""
    width, height = size_wh
    scale = min(width / image_bgr.shape[1], height / image_bgr.shape[0])
    small = cv2.resize(image_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((height, width, 3), 90, np.uint8)
    y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    frame[y : y + small.shape[0], x : x + small.shape[1]] = small
    return frame


def photo_frames(
    photo_dir: Path, size_wh: tuple[int, int] = (640, 480), quality: int = 85
) -> list[SampleFrame]:
    """The default gallery's people as camera frames (none when the photos are not fetched)."""
    frames = []
    for name in PHOTO_FRAMES:
        image = cv2.imread(str(Path(photo_dir) / f"{name}.jpg"), cv2.IMREAD_COLOR)
        if image is None:
            continue
        if image.shape[0] > 1.5 * image.shape[1]:
            image = image[: image.shape[0] // 2]
        if name == "biden":
            image = cv2.flip(image, 1)
        jpeg = encode_jpeg(letterboxed(image, size_wh), quality)
        frames.append(SampleFrame(name, cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), jpeg))
    return frames
