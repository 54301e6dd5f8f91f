"""How simulated people look: real photographs, so the real mesh sees people and real faces.

Two kinds of figure:

* the camera man: scikit-image's `camera()` photograph (a man at a tripod) cropped to him, a
  1.75 m adult; YOLOv3-tiny finds him as "person" (the one-person scenario);
* a photo figure: the head and shoulders of a real photograph of someone (a face the mesh can
  recognise) on a simple body (stubby trousered legs). Its head is a quarter of its height, a
  cartoon's proportions, on purpose: at 640x480 a real adult's face is only 60 px tall, the
  least dlib's embedding is reliable at, when the person fills the whole frame, so a figure
  with real proportions could be followed or recognised, never both. YOLOv3-tiny finds these
  figures as "person" from 180 px tall up, and the Haar cascade finds their face (checked by
  the tests at the scenario's distances).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Columns of the camera() photo that hold the man; the crop is centred on him.
_CAMERA_MAN_COLUMNS = (0, 300)
_TROUSERS_BGR = (45, 40, 40)
_SHOES_BGR = (20, 20, 20)


@dataclass(frozen=True, eq=False)
class Figure:
    """A person's picture (BGR), how much of each pixel is them (alpha 0..255), their height."""

    image_bgr: np.ndarray
    alpha: np.ndarray | None  # None: the whole rectangle
    height_m: float

    @property
    def aspect(self) -> float:
        """Width over height."""
        return self.image_bgr.shape[1] / self.image_bgr.shape[0]


@functools.cache
def camera_man() -> Figure:
    from skimage import data

    crop = data.camera()[:, _CAMERA_MAN_COLUMNS[0] : _CAMERA_MAN_COLUMNS[1]]
    return Figure(cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_GRAY2BGR), None, 1.75)


def largest_face(image_bgr: np.ndarray) -> np.ndarray:
    """The largest face OpenCV's frontal Haar cascade finds (x1, y1, x2, y2); ValueError if none."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(60, 60))
    if len(found) == 0:
        raise ValueError("no face found in the photo")
    x, y, w, h = max(found, key=lambda box: box[2] * box[3])
    return np.array([x, y, x + w, y + h], np.float64)


def photo_figure(photo_bgr: np.ndarray, *, height_m: float = 1.0) -> Figure:
    """A figure with the head and shoulders of the person whose face is largest in `photo_bgr`.

    The bust is cut from the photo in units of the face's width `f`: from half a face above
    it to 2.2 faces below its top, 3 faces wide; a mask keeps the head (an ellipse), the neck
    and the shoulders and chest (a polygon), so little of the photo's background comes along.
    Legs one face long go under it.
    """
    x1, y1, x2, _ = largest_face(photo_bgr)
    f = x2 - x1
    cx = (x1 + x2) / 2.0
    # The bust's rectangle in photo coordinates, centred on the face; parts of it beyond the
    # photo's edges stay transparent.
    top, bottom = round(y1 - 0.55 * f), round(y1 + 2.2 * f)
    left, width = round(cx - 1.5 * f), round(3.0 * f)
    bust_h, legs_h = bottom - top, round(f)
    image = np.zeros((bust_h + legs_h, width, 3), np.uint8)
    alpha = np.zeros((bust_h + legs_h, width), np.uint8)
    src_y0, src_y1 = max(0, top), min(photo_bgr.shape[0], bottom)
    src_x0, src_x1 = max(0, left), min(photo_bgr.shape[1], left + width)
    image[src_y0 - top : src_y1 - top, src_x0 - left : src_x1 - left] = photo_bgr[
        src_y0:src_y1, src_x0:src_x1
    ]
    _bust_mask(alpha, head_cx=cx - left, face_top=y1 - top, f=f, bottom=bust_h)
    in_photo = np.zeros_like(alpha)
    in_photo[src_y0 - top : src_y1 - top, src_x0 - left : src_x1 - left] = 255
    np.minimum(alpha, in_photo, out=alpha)
    _legs(image, alpha, cx=cx - left, f=f, top=bust_h - 2)
    return Figure(image, alpha, height_m)


def load_photo_figure(path: str | Path, *, height_m: float = 1.0) -> Figure:
    photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if photo is None:
        raise FileNotFoundError(f"cannot read the photo {path} (run `make recognition-models`)")
    try:
        return photo_figure(photo, height_m=height_m)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _bust_mask(alpha: np.ndarray, *, head_cx: float, face_top: float, f: float, bottom: int) -> None:
    def pt(dx: float, y: float) -> tuple[int, int]:
        return round(head_cx + dx * f), round(y)

    chin = face_top + f
    cv2.ellipse(alpha, pt(0, face_top + 0.42 * f), (round(0.6 * f), round(0.88 * f)), 0, 0, 360, 255, -1)
    cv2.rectangle(alpha, pt(-0.33, chin - 0.3 * f), pt(0.33, chin + 0.5 * f), 255, -1)
    shoulders = chin + 0.3 * f
    outline = [
        pt(-1.45, shoulders + 0.35 * f),
        pt(-0.9, shoulders),
        pt(0.9, shoulders),
        pt(1.45, shoulders + 0.35 * f),
        pt(1.3, bottom),
        pt(-1.3, bottom),
    ]
    cv2.fillPoly(alpha, [np.array(outline, np.int32)], 255)


def _legs(image: np.ndarray, alpha: np.ndarray, *, cx: float, f: float, top: int) -> None:
    bottom = image.shape[0] - 1
    sole = bottom - round(0.14 * f)
    for side in (-1, 1):
        leg = cx + side * 0.5 * f
        trouser = ((round(leg - 0.38 * f), top), (round(leg + 0.38 * f), sole))
        shoe = (
            (round(leg - 0.42 * f + side * 0.1 * f), sole),
            (round(leg + 0.42 * f + side * 0.1 * f), bottom),
        )
        for (p1, p2), color in ((trouser, _TROUSERS_BGR), (shoe, _SHOES_BGR)):
            cv2.rectangle(image, p1, p2, color, -1)
            cv2.rectangle(alpha, p1, p2, 255, -1)
