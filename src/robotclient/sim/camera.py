"""The simulated camera: renders what the robot sees, with real photos of people in it.

Each person is their figure (`robotclient.sim.figures`: real photographs) scaled by distance
and drawn far to near, so a nearer person hides a farther one: the real YOLOv3-tiny detects
them as "person" and the Haar cascade finds their faces, so the closed loop exercises the
real mesh, not a stand-in. The walls carry coloured stripes fixed in the world, so rotation
is visible in the live view. Pinhole model, horizontal field of view of the Raspberry Pi
camera v2 (62.2 degrees).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from robotclient.sim.figures import Figure
from robotclient.sim.world import SimPerson, SimWorld

_STRIPE_BGR = np.array(
    [(90, 120, 170), (150, 150, 150), (70, 150, 110), (170, 140, 90), (120, 110, 160), (140, 170, 180)],
    np.uint8,
)


@dataclass(frozen=True)
class CameraModel:
    size_wh: tuple[int, int] = (640, 480)
    hfov_deg: float = 62.2
    mount_height_m: float = 0.3
    stripe_deg: float = 15.0

    @property
    def focal_px(self) -> float:
        return (self.size_wh[0] / 2.0) / math.tan(math.radians(self.hfov_deg / 2.0))


@dataclass(frozen=True)
class PersonView:
    """Where a person lands in the image (ground truth for the closed-loop figures)."""

    center_x_px: float
    height_px: float
    distance_m: float
    in_view: bool


def project_person(world: SimWorld, model: CameraModel, name: str | None = None) -> PersonView:
    """Ground-truth projection of a person's centre column and apparent height (the first: None)."""
    return _project(world, model, world.person(name))


def _project(world: SimWorld, model: CameraModel, person: SimPerson) -> PersonView:
    pose = world.pose
    px, py = person.path.position(world.time_s)
    dx, dy = px - pose.x_m, py - pose.y_m
    heading = math.radians(pose.heading_deg)
    forward = dx * math.cos(heading) + dy * math.sin(heading)
    left = -dx * math.sin(heading) + dy * math.cos(heading)
    width, _ = model.size_wh
    if forward <= 0.2:
        return PersonView(center_x_px=math.nan, height_px=0.0, distance_m=math.hypot(dx, dy), in_view=False)
    center_x = width / 2.0 - model.focal_px * left / forward
    height = model.focal_px * person.figure.height_m / forward
    half_width = height * person.figure.aspect / 2.0
    in_view = -half_width * 0.3 < center_x < width + half_width * 0.3
    return PersonView(center_x, height, math.hypot(dx, dy), in_view and 0 <= center_x < width)


def render(world: SimWorld, model: CameraModel) -> np.ndarray:
    """The BGR frame the robot's camera sees now."""
    width, height = model.size_wh
    horizon = height // 2
    image = np.empty((height, width, 3), np.uint8)
    # Wall: vertical stripes fixed in world angle, so turning moves them across the image.
    columns = np.arange(width, dtype=np.float64)
    world_deg = world.pose.heading_deg + np.degrees(np.arctan((width / 2.0 - columns) / model.focal_px))
    stripe = np.floor(world_deg / model.stripe_deg).astype(np.int64) % len(_STRIPE_BGR)
    image[:horizon] = _STRIPE_BGR[stripe][None, :, :]
    image[horizon:] = (95, 105, 100)
    views = [(_project(world, model, person), person.figure) for person in world.people]
    for view, figure in sorted(views, key=lambda entry: -entry[0].distance_m):
        if view.height_px >= 8 and not math.isnan(view.center_x_px):
            _paste_figure(image, view, figure, model)
    return image


def _paste_figure(image: np.ndarray, view: PersonView, figure: Figure, model: CameraModel) -> None:
    sprite = figure.image_bgr
    height_px = round(min(view.height_px, 4 * model.size_wh[1]))
    width_px = max(1, round(height_px * figure.aspect))
    feet_y = model.size_wh[1] / 2.0 + model.focal_px * model.mount_height_m * view.height_px / (
        model.focal_px * figure.height_m
    )
    top = round(feet_y - height_px)
    left = round(view.center_x_px - width_px / 2.0)
    img_h, img_w = image.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(img_w, left + width_px), min(img_h, top + height_px)
    if x1 <= x0 or y1 <= y0:
        return
    # Scale only the visible part of the sprite, so a person next to the robot stays cheap.
    sx = sprite.shape[1] / width_px
    sy = sprite.shape[0] / height_px
    rows = slice(int((y0 - top) * sy), max(int((y0 - top) * sy) + 1, math.ceil((y1 - top) * sy)))
    cols = slice(int((x0 - left) * sx), max(int((x0 - left) * sx) + 1, math.ceil((x1 - left) * sx)))
    patch = cv2.resize(sprite[rows, cols], (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    if figure.alpha is None:
        image[y0:y1, x0:x1] = patch
        return
    alpha = cv2.resize(figure.alpha[rows, cols], (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    weight = alpha[..., None].astype(np.float32) / 255.0
    under = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = (weight * patch + (1.0 - weight) * under + 0.5).astype(np.uint8)
