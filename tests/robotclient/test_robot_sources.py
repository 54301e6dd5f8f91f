"""Frame sources: numbering, capture times from the clock passed in, looping, errors."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from robotclient.clock import ManualClock
from robotclient.sources import (
    ImageFolderSource,
    PiCameraSource,
    VideoFileSource,
    WebcamSource,
    open_source,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), np.full((24, 32, 3), i * 50, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (32, 24))
    for i in range(4):
        writer.write(np.full((24, 32, 3), i * 40, np.uint8))
    writer.release()
    return path


def drain(source, limit: int = 20) -> list:
    frames = []
    while len(frames) < limit and (frame := source.read()) is not None:
        frames.append(frame)
    return frames


def test_folder_in_name_order_with_clock_times(folder: Path) -> None:
    clock = ManualClock(10.0)
    with ImageFolderSource(folder, clock) as source:
        first = source.read()
        clock.advance(0.5)
        rest = drain(source)
    assert [f.number for f in [first, *rest]] == [1, 2, 3]
    assert first.capture_time_s == 10.0 and rest[0].capture_time_s == 10.5
    assert [int(f.image_bgr[0, 0, 0]) for f in [first, *rest]] == [0, 50, 100]
    assert first.size_wh == (32, 24)


def test_folder_loops(folder: Path) -> None:
    with ImageFolderSource(folder, ManualClock(), loop=True) as source:
        frames = drain(source, 7)
    # Numbering runs on across the loop; the pictures start over.
    assert [f.number for f in frames] == [1, 2, 3, 4, 5, 6, 7]
    assert [int(f.image_bgr[0, 0, 0]) for f in frames] == [0, 50, 100, 0, 50, 100, 0]


def test_video_file_and_rate(video: Path) -> None:
    with VideoFileSource(video, ManualClock()) as source:
        assert source.native_fps == pytest.approx(15.0)
        assert len(drain(source)) == 4
    with VideoFileSource(video, ManualClock(), loop=True) as source:
        assert len(drain(source, 10)) == 10


@pytest.mark.parametrize(
    ("spec_kind", "expected"),
    [("folder", ImageFolderSource), ("video", VideoFileSource), ("file:video", VideoFileSource)],
)
def test_open_source(folder: Path, video: Path, spec_kind: str, expected: type) -> None:
    spec = {"folder": str(folder), "video": str(video), "file:video": f"file:{video}"}[spec_kind]
    with open_source(spec, ManualClock()) as source:
        assert isinstance(source, expected)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("/no/such/thing.mp4", "no such source '/no/such/thing.mp4': expected picamera, webcam:N"),
        ("webcam:97", "cannot open camera /dev/video97"),
    ],
)
def test_open_source_errors(spec: str, message: str) -> None:
    with pytest.raises(OSError, match=re.escape(message)):
        open_source(spec, ManualClock())


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no images"):
        ImageFolderSource(tmp_path, ManualClock())


def test_a_missing_webcam_names_its_device() -> None:
    with pytest.raises(OSError, match="/dev/video97"):
        WebcamSource(97, ManualClock())


def test_picamera_through_a_fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    class Picamera2:
        def create_video_configuration(self, main: dict) -> dict:
            calls.append(f"configure {main['size']} {main['format']}")
            return {"main": main}

        def configure(self, config: dict) -> None:
            calls.append("configured")

        def start(self) -> None:
            calls.append("start")

        def capture_array(self, name: str) -> np.ndarray:
            return np.zeros((240, 320, 3), np.uint8)

        def stop(self) -> None:
            calls.append("stop")

        def close(self) -> None:
            calls.append("close")

    module = types.ModuleType("picamera2")
    module.Picamera2 = Picamera2
    monkeypatch.setitem(sys.modules, "picamera2", module)
    with open_source("picamera", ManualClock(), size_wh=(320, 240)) as source:
        assert isinstance(source, PiCameraSource)
        assert source.read().size_wh == (320, 240)
    assert calls == ["configure (320, 240) RGB888", "configured", "start", "stop", "close"]


def test_picamera_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(OSError, match="picamera2"):
        PiCameraSource(ManualClock())
