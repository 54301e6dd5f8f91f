"""Operator features: the annotated live view, the CSV log, the status line, the keyboard.

None of these steer the robot; they show what it sees and decides, and let a person at the
terminal tell it to search, idle, explore or quit.
"""

from __future__ import annotations

import csv
import logging
import os
import select
import sys
import threading
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from liquidedge.drawing import label_color_bgr
from liquidedge.imaging import encode_jpeg
from liquidedge.mjpeg import MjpegServer
from robotclient.behavior import Command
from robotclient.pilot import PilotStep
from robotclient.tracker import Track
from robotclient.values import Pose

log = logging.getLogger(__name__)

KEY_COMMANDS = {"s": Command.SEARCH, "i": Command.IDLE, "x": Command.EXPLORE}


def caption(track: Track, *, is_target: bool) -> str:
    """What the live view writes over a box: id, label, the name when known, target, coasting."""
    text = f"#{track.track_id} {track.label}"
    if track.identity is not None:
        text += f" {track.identity}"
    if is_target:
        text += " TARGET"
    if not track.visible:
        text += f" (lost {track.missed})"
    return text


def annotate(
    image_bgr: np.ndarray,
    step: PilotStep,
    *,
    rtt_s: float | None,
    fps: float,
    host: str,
    follow: str | None = None,
) -> np.ndarray:
    """The frame with every track (id, label, name), the target highlighted, and a status overlay.

    With `follow`, the overlay says whom the robot follows and whether they are in view.
    """
    canvas = image_bgr.copy()
    target_id = step.target.track_id if step.target is not None else None
    for track in step.tracks:
        x1, y1, x2, y2 = (round(v) for v in track.xyxy)
        is_target = track.track_id == target_id
        color = (0, 0, 255) if is_target else label_color_bgr(track.label)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 3 if is_target else 1)
        cv2.putText(
            canvas,
            caption(track, is_target=is_target),
            (x1, max(14, y1 - 5)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            color,
            1,
            cv2.LINE_AA,
        )
    height, width = canvas.shape[:2]
    cv2.line(canvas, (width // 2, height // 2 - 10), (width // 2, height // 2 + 10), (255, 255, 255), 1)
    d, t = step.decision, step.twist
    lines = [
        f"state {d.state.value}" + ("  MESH DOWN: halted" if d.halted else ""),
        f"x {t.x_mps:+.2f} m/s  z {t.z_dps:+.0f} deg/s",
        f"rtt {rtt_s * 1000:.0f} ms  {fps:.1f} fps  edge {host or '-'}" if rtt_s is not None else "rtt -",
    ]
    if follow is not None:
        lines.append(f"following {follow}: " + (f"#{target_id}" if target_id is not None else "not found"))
    for row, line in enumerate(lines):
        origin = (8, 20 + 20 * row)
        cv2.putText(canvas, line, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(canvas, line, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


class LiveView:
    """Holds the newest annotated frame for the MJPEG server; encodes only when someone watches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._image: np.ndarray | None = None
        self._jpeg: bytes | None = None

    def publish(self, image_bgr: np.ndarray) -> None:
        with self._lock:
            self._image, self._jpeg = image_bgr, None

    def jpeg(self) -> bytes | None:
        with self._lock:
            if self._jpeg is None and self._image is not None:
                self._jpeg = encode_jpeg(self._image, 75)
            return self._jpeg

    def serve(self, host: str, port: int) -> MjpegServer:
        """Start the HTTP server (`/` page, `/stream` MJPEG, `/frame.jpg`); stop it when done."""
        return MjpegServer(host, port, self.jpeg, title="LIQUID EDGE robot").start()


CSV_FIELDS = ("time_s", "frame", "rtt_ms", "objects", "x_m", "y_m", "heading_deg", "fps", "state")


class CsvLog:
    """One row per processed answer: time, RTT, object count, pose, FPS (and the state)."""

    def __init__(self, path: str | Path) -> None:
        self._file: IO[str] = open(path, "w", newline="")  # noqa: SIM115 - closed in close()
        self._writer = csv.writer(self._file)
        self._writer.writerow(CSV_FIELDS)

    def write(
        self,
        *,
        time_s: float,
        frame: int,
        rtt_s: float | None,
        objects: int,
        pose: Pose | None,
        fps: float,
        state: str,
    ) -> None:
        pose = pose or Pose(float("nan"), float("nan"), float("nan"))
        rtt = "" if rtt_s is None else f"{rtt_s * 1000:.1f}"
        self._writer.writerow(
            [
                f"{time_s:.3f}",
                frame,
                rtt,
                objects,
                f"{pose.x_m:.3f}",
                f"{pose.y_m:.3f}",
                f"{pose.heading_deg:.1f}",
                f"{fps:.2f}",
                state,
            ]
        )
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class Keyboard:
    """Single-key commands from the terminal, read without Enter; inert when stdin is no TTY."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdin
        self.enabled = self.stream.isatty()
        self._saved: list | None = None

    def __enter__(self) -> Keyboard:
        if self.enabled:
            import termios
            import tty

            fd = self.stream.fileno()
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
            log.info("keys: q quit, s search, i idle, x explore")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.stream.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

    def poll(self) -> str | None:
        """The key pressed since the last poll, lower-cased, or None."""
        if not self.enabled:
            return None
        ready, _, _ = select.select([self.stream], [], [], 0)
        if not ready:
            return None
        key = os.read(self.stream.fileno(), 1).decode(errors="ignore").lower()
        return key or None
