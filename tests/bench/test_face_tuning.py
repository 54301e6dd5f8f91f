"""The face-settings table's ground truth and its choice rule (the measuring itself is `make face-tuning`)."""

from __future__ import annotations

import numpy as np
import pytest

from facedetection.engine import FaceSettings
from facedetection.service import build_parser
from meshtools.bench.face_tuning import ORIGINAL, Row, pick, place_face


@pytest.mark.parametrize(("side", "centre"), [(40, (0.5, 0.4)), (200, (0.3, 0.35)), (112, (0.7, 0.5))])
def test_the_known_box_is_where_the_face_lands(side: int, centre: tuple[float, float]) -> None:
    photo = np.zeros((300, 400, 3), np.uint8)
    photo[60:160, 50:150] = 255  # the "face": 100 px square at x 50, y 60
    background = np.full((480, 640, 3), 60, np.uint8)
    frame, faces = place_face(photo, (50, 60, 100, 100), side, background, centre)
    x1, y1, x2, y2 = faces[0]
    assert (x2 - x1, y2 - y1) == pytest.approx((side, side))
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == pytest.approx((centre[0] * 640, centre[1] * 480), abs=1)
    inside = frame[int(y1) + 3 : int(y2) - 3, int(x1) + 3 : int(x2) - 3]
    assert inside.mean() > 240  # the face, through a JPEG round trip
    assert frame[int(y2) + 3 : int(y2) + 8, int(x1) : int(x2)].mean() < 20  # the photo around it


def row(settings: FaceSettings, found_in: str, false: int, cpu_ms: float) -> Row:
    frames = frozenset(found_in.split())
    return Row(settings, len(frames), 4, false, cpu_ms, (), frames)


CHEAP_LOSES = FaceSettings(scale_factor=1.3, min_size=48, downscale=0.5)
CHEAP_NOISY = FaceSettings(scale_factor=1.3, min_neighbors=2, min_size=40)
FAIR = FaceSettings(scale_factor=1.1, min_neighbors=4, min_size=40, downscale=0.6)
DEAR = FaceSettings(scale_factor=1.1, min_neighbors=5, min_size=30, downscale=1.0)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # cheaper but misses faces / makes more false ones: not chosen; the fair one is
        (
            [
                row(ORIGINAL, "a b c", 7, 70),
                row(CHEAP_LOSES, "a b", 0, 28),
                row(CHEAP_NOISY, "a b c d", 11, 44),
                row(FAIR, "a b c", 3, 61),
            ],
            FAIR,
        ),
        # as many faces in all, but not the same ones: it loses face c, so the original stays
        (
            [row(ORIGINAL, "a b c", 7, 70), row(CHEAP_LOSES, "a b d", 0, 28), row(DEAR, "a b c", 5, 140)],
            ORIGINAL,
        ),
    ],
)
def test_the_default_is_the_cheapest_setting_that_never_loses(
    rows: list[Row], expected: FaceSettings
) -> None:
    assert pick(rows, rows[0]).settings == expected


def test_the_face_service_takes_its_defaults_from_face_settings() -> None:
    args = build_parser().parse_args([])
    defaults = FaceSettings()
    assert (args.scale_factor, args.min_neighbors, args.min_size, args.downscale, args.instances) == (
        defaults.scale_factor,
        defaults.min_neighbors,
        defaults.min_size,
        defaults.downscale,
        defaults.instances,
    )
