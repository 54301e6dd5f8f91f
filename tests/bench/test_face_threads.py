"""`make face-threads` runs and reports each thread count it was given (the figures are its output)."""

from __future__ import annotations

import pytest

from facedetection.service import build_parser, check_args
from meshtools.bench.face_threads import main


def test_each_thread_count_and_caller_count_gets_a_row(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--threads", "0,1", "--seconds", "0.3"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [(row[0], row[1]) for row in rows][2:] == [("1", "1"), ("1", "4")]
    assert {row[1] for row in rows[:2]} == {"1", "4"} and int(rows[0][0]) >= 1  # OpenCV's default
    for row in rows:
        frames, fps, cpu_ms = int(row[2]), float(row[3]), float(row[4])
        assert frames > 0 and fps > 0 and 1 < cpu_ms < 2000


def test_the_face_service_refuses_a_negative_thread_count(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as exited:
        check_args(parser, parser.parse_args(["--opencv-threads", "-1"]))
    assert exited.value.code == 2
    assert "--opencv-threads" in capsys.readouterr().err
