"""The camera emulator's sources: a video file, an image folder, the sample photographs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from meshtools.camera_emulator import CameraEmulator, load_frames


def frames_of(count: int) -> list[np.ndarray]:
    return [np.full((120, 160, 3), 40 * i, np.uint8) for i in range(count)]


def decoded(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_image_folder(tmp_path: Path) -> None:
    for i, image in enumerate(frames_of(3)):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), image)
    (tmp_path / "notes.txt").write_text("not an image")
    jpegs = load_frames(str(tmp_path), width=320)
    assert len(jpegs) == 3
    assert decoded(jpegs[0]).shape == (240, 320, 3)  # resized, aspect ratio kept
    assert decoded(jpegs[2]).mean() > decoded(jpegs[1]).mean() > decoded(jpegs[0]).mean()  # in name order


def test_video_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (160, 120))
    for image in frames_of(6):
        writer.write(image)
    writer.release()
    jpegs = load_frames(str(path), width=160, max_frames=4)
    assert len(jpegs) == 4 and decoded(jpegs[0]).shape == (120, 160, 3)


def test_samples_and_bad_sources(tmp_path: Path) -> None:
    assert len(load_frames("samples:astronaut,camera")) == 2
    with pytest.raises(ValueError, match="no such video file or image folder"):
        load_frames(str(tmp_path / "missing.mp4"))
    with pytest.raises(ValueError, match="no frames"):
        load_frames(str(tmp_path))  # an empty folder
    with pytest.raises(ValueError, match="mode must be one of"):
        CameraEmulator([b"x"], mode="evil")
