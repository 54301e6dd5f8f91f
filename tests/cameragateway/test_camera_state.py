"""A camera's verdict (online, degraded, offline) and its counters, on a clock the test moves."""

from __future__ import annotations

import pytest

from cameragateway.camera import DEGRADED, OFFLINE, ONLINE, Camera, HealthSettings

HEALTH = HealthSettings(offline_after_s=5.0, degraded_window_s=10.0, rate_window_s=5.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def camera(clock: Clock) -> Camera:
    return Camera(
        "cam", "http://10.0.0.5/stream", "registered", HEALTH, clock=clock, wall_clock=lambda: 1.7e9
    )


# (case, what happens: list of (seconds later, event, detail), expected state, words in the reason)
CASES = [
    ("never heard from", [], OFFLINE, "waiting for the first frame"),
    ("frames flowing", [(0.0, "frame", None), (0.2, "frame", None)], ONLINE, ""),
    ("frames stopped long ago", [(0.0, "frame", None), (6.0, None, None)], OFFLINE, "no frame for 6s"),
    ("unreachable (connection refused), no frames", [(0.0, "refused", "cannot connect")], OFFLINE, "refused"),
    (
        "frames with garbage between them",
        [(0.0, "frame", None), (0.1, "garbage", "2048 bytes")],
        DEGRADED,
        "garbage x1",
    ),
    (
        "no frame, but the camera answers with junk",
        [(0.0, "garbage", "no part boundary")],
        DEGRADED,
        "no good frame",
    ),
    (
        "flapping: closes after every few frames",
        [(0, "frame", None), (0.1, "closed", "closed"), (0.6, "frame", None), (0.7, "closed", "closed")],
        DEGRADED,
        "closed x2",
    ),
    (
        "an oversize part refused",
        [(0.0, "frame", None), (0.1, "oversize", "52428800 bytes")],
        DEGRADED,
        "oversize",
    ),
    # A gRPC code as the event: the mesh's answer to one of the camera's frames.
    (
        "the mesh refuses its frames",
        [(0.0, "frame", None), (0.1, "INVALID_ARGUMENT", "not a JPEG")],
        DEGRADED,
        "rejected",
    ),
    (
        "the mesh is down: not the camera's fault",
        [(0.0, "frame", None), (0.1, "UNAVAILABLE", "down")],
        ONLINE,
        "",
    ),
    (
        "the mesh is late: not the camera's fault",
        [(0.0, "frame", None), (0.1, "DEADLINE_EXCEEDED", "2s")],
        ONLINE,
        "",
    ),
    ("a fault long past is forgiven", [(0.0, "stalled", "no bytes"), (11.0, "frame", None)], ONLINE, ""),
]


@pytest.mark.parametrize(("steps", "expected", "words"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_verdict(steps: list, expected: str, words: str) -> None:
    clock = Clock()
    cam = camera(clock)
    start = clock.now
    for at, event, detail in steps:
        clock.now = start + at
        if event == "frame":
            cam.frame(b"\xff\xd8jpeg\xff\xd9", None)
        elif event is not None and event.isupper():
            cam.mesh_failed(event, detail)
        elif event is not None:
            cam.fault(event, detail)
    state, reason = cam.state()
    assert state == expected
    assert words in reason
    last = steps[-1][1] if steps else None
    if last and last.isupper() and last != "INVALID_ARGUMENT":
        assert last in cam.snapshot()["mesh_issue"]  # shown beside the camera all the same


def test_newest_frame_replaces_an_unsent_one_and_is_counted() -> None:
    clock = Clock()
    cam = camera(clock)
    for i in range(5):
        cam.frame(bytes([0xFF, 0xD8, i, 0xFF, 0xD9]), 1.7e9 + i)  # the wall clock says 1.7e9
    frame = cam.mailbox.take(0.0)
    assert frame is not None and frame.number == 5 and frame.jpeg[2] == 4
    assert frame.capture_time_s == 1.7e9 + 4  # the camera's own timestamp is kept
    assert cam.mailbox.take(0.0) is None
    snap = cam.snapshot()
    assert (snap["received"], snap["dropped_stale"]) == (5, 4)


def test_rates_and_round_trip_over_the_window() -> None:
    from cameragateway.camera import Answer
    from liquidedge.detections import Detections

    clock = Clock()
    cam = camera(clock)
    for i in range(10):
        clock.now += 0.5
        cam.frame(b"\xff\xd8x\xff\xd9", None)
        frame = cam.mailbox.take(0.0)
        cam.answered(Answer(frame, Detections.empty(), 0.1 + i / 100, 0.0, [], {}, (640, 480)))
    snap = cam.snapshot()
    assert snap["fps_in"] == pytest.approx(2.0, abs=0.21)  # 10 frames over 5 s, window edges
    assert snap["fps_out"] == snap["fps_in"]
    assert 100 <= snap["rtt_ms"] <= 200
    assert cam.answer().frame.number == 10
    assert cam.answer(8).frame.number == 8
    assert cam.answer(3) is None  # only the last few are kept


def test_a_camera_clock_that_is_not_set_is_not_believed() -> None:
    """An ESP32-CAM without SNTP stamps frames with seconds since boot: arrival time is used."""
    cam = camera(Clock())
    cam.frame(b"\xff\xd8x\xff\xd9", 1234.5)
    frame = cam.mailbox.take(0.0)
    assert frame is not None and frame.capture_time_s == 1.7e9


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://10.0.0.5/stream", "http://10.0.0.5/stream"),
        ("http://admin:hunter2@10.0.0.5:81/stream", "http://admin:***@10.0.0.5:81/stream"),
        ("http://viewer@10.0.0.5/stream", "http://viewer@10.0.0.5/stream"),  # no password to hide
    ],
)
def test_a_password_in_a_camera_url_is_never_shown(url: str, shown: str) -> None:
    assert Camera("cam", url, "operator", HEALTH).snapshot()["url"] == shown
