"""Frame sources behind one interface: Pi camera, V4L2 webcam, video file, folder of images.

Each source numbers its frames and stamps them with the capture time on the clock it was
given, so the link's round-trip time and the simulator's timeline use the same clock.
Hardware libraries (picamera2) are imported inside their adapter only.
"""

from __future__ import annotations

import abc
import logging
from pathlib import Path

import cv2
import numpy as np

from robotclient.clock import Clock
from robotclient.values import Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class FrameSource(abc.ABC):
    """Yields frames until exhausted (`read` returns None). Close it, or use it in `with`."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._number = 0

    @property
    def native_fps(self) -> float | None:
        """The rate the source was recorded at, when it has one (video files)."""
        return None

    @abc.abstractmethod
    def _grab(self) -> np.ndarray | None:
        """The next BGR image, or None when there is no more."""

    def read(self) -> Frame | None:
        image = self._grab()
        if image is None:
            return None
        self._number += 1
        return Frame(number=self._number, capture_time_s=self.clock.now(), image_bgr=image)

    def close(self) -> None:  # noqa: B027 - optional hook; most sources hold nothing
        """Release the device or file."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoFileSource(FrameSource):
    """A video file, optionally looped (benchmarks and desk tests without a camera)."""

    def __init__(self, path: str | Path, clock: Clock, *, loop: bool = False) -> None:
        super().__init__(clock)
        self.path = str(path)
        self.loop = loop
        self._capture = cv2.VideoCapture(self.path)
        if not self._capture.isOpened():
            raise FileNotFoundError(f"cannot open video file {self.path}")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self._fps = float(fps) if fps and fps > 0 else None

    @property
    def native_fps(self) -> float | None:
        return self._fps

    def _grab(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        if not ok and self.loop:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._capture.read()
        return image if ok else None

    def close(self) -> None:
        self._capture.release()


class ImageFolderSource(FrameSource):
    """Every image in a folder, in name order, optionally looped."""

    def __init__(self, path: str | Path, clock: Clock, *, loop: bool = False) -> None:
        super().__init__(clock)
        self.files = sorted(p for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}")
        self.loop = loop
        self._index = 0

    def _grab(self) -> np.ndarray | None:
        while True:
            if self._index >= len(self.files):
                if not self.loop:
                    return None
                self._index = 0
            path = self.files[self._index]
            self._index += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                return image
            log.warning("skipping unreadable image %s", path)


class WebcamSource(FrameSource):
    """A V4L2 camera by index (/dev/videoN)."""

    def __init__(self, index: int, clock: Clock, *, size_wh: tuple[int, int] = (640, 480)) -> None:
        super().__init__(clock)
        self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
            raise OSError(f"cannot open camera /dev/video{index}")
        self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, size_wh[0])
        self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, size_wh[1])

    def _grab(self) -> np.ndarray | None:
        ok, image = self._capture.read()
        return image if ok else None

    def close(self) -> None:
        self._capture.release()


class PiCameraSource(FrameSource):
    """The Raspberry Pi camera through picamera2 (libcamera), imported only when used."""

    def __init__(self, clock: Clock, *, size_wh: tuple[int, int] = (640, 480)) -> None:
        super().__init__(clock)
        try:
            from picamera2 import Picamera2
        except ImportError as error:
            raise OSError(
                "the Pi camera needs picamera2 (apt install python3-picamera2 on the Pi)"
            ) from error
        self._camera = Picamera2()
        config = self._camera.create_video_configuration(main={"size": size_wh, "format": "RGB888"})
        self._camera.configure(config)
        self._camera.start()

    def _grab(self) -> np.ndarray | None:
        # picamera2's "RGB888" is laid out B, G, R in memory: already OpenCV's order.
        return self._camera.capture_array("main")

    def close(self) -> None:
        self._camera.stop()
        self._camera.close()


def open_source(
    spec: str, clock: Clock, *, loop: bool = False, size_wh: tuple[int, int] = (640, 480)
) -> FrameSource:
    """Source from a flag value: "picamera", "webcam:0" (or a bare index), a folder, a video file."""
    if spec == "picamera":
        return PiCameraSource(clock, size_wh=size_wh)
    if spec.startswith("webcam:") or spec.isdigit():
        return WebcamSource(int(spec.removeprefix("webcam:")), clock, size_wh=size_wh)
    path = Path(spec.removeprefix("file:"))
    if path.is_dir():
        return ImageFolderSource(path, clock, loop=loop)
    if path.is_file():
        return VideoFileSource(path, clock, loop=loop)
    raise FileNotFoundError(f"no such source {spec!r}: expected picamera, webcam:N, a folder or a video file")
