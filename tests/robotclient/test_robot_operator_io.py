"""Live view, CSV log and keyboard."""

from __future__ import annotations

import csv
import io
import os
import pty
import urllib.request
from pathlib import Path

import numpy as np

from robotclient.behavior import Decision, State
from robotclient.operator_io import CSV_FIELDS, CsvLog, Keyboard, LiveView, annotate
from robotclient.pilot import PilotStep
from robotclient.tracker import Track
from robotclient.values import Led, Pose, Twist


def a_step() -> PilotStep:
    target = Track(7, "person", (100.0, 100.0, 200.0, 300.0), (0.0, 0.0, 0.0), 0.9, hits=3)
    other = Track(8, "face", (400.0, 50.0, 450.0, 100.0), (0.0, 0.0, 0.0), 0.8, missed=2)
    return PilotStep(
        tracks=[target, other],
        target=target,
        decision=Decision(state=State.FOLLOW, since_s=0.0, halted=False, manoeuvre=None),
        twist=Twist(x_mps=0.2, z_dps=-15.0),
        led=Led((0, 255, 0), "on"),
    )


def test_annotate_draws_without_touching_the_input() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    drawn = annotate(image, a_step(), rtt_s=0.05, fps=9.0, host="edge-a")
    assert not image.any()
    assert drawn.shape == image.shape and drawn.any()
    assert (drawn[100, 100:200] == (0, 0, 255)).all()  # the target's box is red (BGR)


def test_live_view_serves_jpeg_over_http() -> None:
    view = LiveView()
    server = view.serve("127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/", timeout=5) as page:
            assert b"/stream" in page.read()
        view.publish(annotate(np.zeros((120, 160, 3), np.uint8), a_step(), rtt_s=None, fps=0.0, host=""))
        with urllib.request.urlopen(f"{base}/frame.jpg", timeout=5) as frame:
            assert frame.headers["Content-Type"] == "image/jpeg"
            assert frame.read()[:2] == b"\xff\xd8"
        with urllib.request.urlopen(f"{base}/stream", timeout=5) as stream:
            assert "multipart/x-mixed-replace" in stream.headers["Content-Type"]
            assert b"image/jpeg" in stream.read(200)
    finally:
        server.stop()


def test_csv_log(tmp_path: Path) -> None:
    path = tmp_path / "robot.csv"
    log = CsvLog(path)
    log.write(
        time_s=1.5, frame=3, rtt_s=0.0421, objects=2, pose=Pose(1.0, 2.0, 30.0), fps=9.5, state="follow"
    )
    log.write(time_s=1.6, frame=4, rtt_s=None, objects=0, pose=None, fps=0.0, state="search")
    log.close()
    rows = list(csv.reader(path.open()))
    assert tuple(rows[0]) == CSV_FIELDS
    assert rows[1] == ["1.500", "3", "42.1", "2", "1.000", "2.000", "30.0", "9.50", "follow"]
    assert rows[2][2] == "" and rows[2][4] == "nan"


def test_keyboard_is_inert_without_a_tty() -> None:
    with Keyboard(io.StringIO("q")) as keyboard:
        assert not keyboard.enabled
        assert keyboard.poll() is None


def test_keyboard_reads_single_keys_from_a_tty() -> None:
    controller, terminal = pty.openpty()
    try:
        with os.fdopen(terminal, "r", closefd=False) as stream, Keyboard(stream) as keyboard:
            assert keyboard.enabled
            assert keyboard.poll() is None
            os.write(controller, b"S")
            assert keyboard.poll() == "s"
    finally:
        os.close(controller)
        os.close(terminal)
