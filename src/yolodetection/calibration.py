"""Calibration and held-out frames for quantisation, from photographs registry packages ship.

Calibration sees crops, flips and zooms of one set of photographs (scikit-image's samples and
some of `face_recognition`'s test photos); the check afterwards sees other photographs only,
as 640x480 camera frames through a JPEG round-trip, alone and tiled four to a frame (so the
check has many boxes, of many sizes). No image of the held-out set is calibrated on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import cv2
import numpy as np

from liquidedge.imaging import encode_jpeg

FRAME_WH = (640, 480)
# scikit-image samples bundled in its wheel (no download).
CALIBRATION_SKIMAGE = (
    "astronaut", "camera", "coffee", "rocket", "clock", "coins", "brick", "gravel",
    "immunohistochemistry", "hubble_deep_field", "retina", "colorwheel", "moon", "page",
)  # fmt: skip
CALIBRATION_FACES = ("obama", "biden", "obama_partial_face")
HELD_OUT_SKIMAGE = ("chelsea", "motorcycle-left", "motorcycle-right", "horse", "grass", "text")
HELD_OUT_FACES = ("obama2", "obama3", "obama_partial_face2")


def skimage_photo(name: str) -> np.ndarray:
    """A scikit-image sample as a 3-channel BGR image (the stereo pair as two names)."""
    import skimage.data

    if name.startswith("motorcycle-"):
        image = skimage.data.stereo_motorcycle()[0 if name.endswith("left") else 1]
    else:
        image = getattr(skimage.data, name)()
    if image.dtype != np.uint8:
        image = (image.astype(np.float32) * (255.0 / max(1.0, float(image.max())))).astype(np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2BGR)


def camera_frame(image_bgr: np.ndarray) -> np.ndarray:
    """What the service sees: 640x480 through a JPEG round-trip."""
    resized = cv2.resize(np.ascontiguousarray(image_bgr), FRAME_WH, interpolation=cv2.INTER_AREA)
    return cv2.imdecode(np.frombuffer(encode_jpeg(resized), np.uint8), cv2.IMREAD_COLOR)


def tiled(images: list[np.ndarray]) -> np.ndarray:
    """Four photos in a 2x2 grid: four times the objects, each half the size."""
    width, height = FRAME_WH[0] // 2, FRAME_WH[1] // 2
    cells = [cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA) for image in images[:4]]
    return camera_frame(np.vstack([np.hstack(cells[:2]), np.hstack(cells[2:4])]))


def calibration_frames(
    face_photos: Mapping[str, np.ndarray], count: int = 120, seed: int = 0
) -> Iterator[np.ndarray]:
    """`count` frames: random crops (40-100% of each side), mirrored half the time, of the calibration photos."""
    photos = [skimage_photo(name) for name in CALIBRATION_SKIMAGE] + [
        face_photos[n] for n in CALIBRATION_FACES
    ]
    rng = np.random.default_rng(seed)
    for i in range(count):
        photo = photos[i % len(photos)]
        height, width = photo.shape[:2]
        crop_w, crop_h = (int(side * rng.uniform(0.4, 1.0)) for side in (width, height))
        x, y = int(rng.integers(0, width - crop_w + 1)), int(rng.integers(0, height - crop_h + 1))
        crop = photo[y : y + crop_h, x : x + crop_w]
        yield camera_frame(crop[:, ::-1] if rng.random() < 0.5 else crop)


def held_out_frames(face_photos: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Name -> frame: each held-out photo alone, mirrored, and tiled with the others."""
    photos = {name: skimage_photo(name) for name in HELD_OUT_SKIMAGE}
    photos.update({name: face_photos[name] for name in HELD_OUT_FACES})
    frames = {name: camera_frame(image) for name, image in photos.items()}
    frames.update({f"{name}-mirrored": camera_frame(image[:, ::-1]) for name, image in photos.items()})
    names = list(photos)
    for i in range(len(names)):
        group = [names[(i + k) % len(names)] for k in range(4)]
        frames["tiled-" + "+".join(group)] = tiled([photos[n] for n in group])
    return frames
