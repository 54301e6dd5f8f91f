"""One camera's live state: what arrived, what the mesh answered, what went wrong, and its verdict.

The puller writes frames and faults in, the mesh link takes the newest frame out and writes
answers back, the dashboard and metrics read snapshots. Frames pass through a one-slot
mailbox: a newer frame replaces an unsent one, so a camera faster than the mesh never builds
a backlog, and the replaced frames are counted as dropped (stale). The verdict (online,
degraded, offline) is computed from the clock on demand, so it is never out of date.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from liquidedge.detections import Detections
from liquidedge.mailbox import Mailbox

ONLINE, DEGRADED, OFFLINE = "online", "degraded", "offline"
# Faults that say nothing answers at the camera's address: with no frames, that is offline.
# Any other fault (garbage, stalls, oversize parts, ...) means the camera is there, misbehaving.
UNREACHABLE = frozenset({"refused"})


@dataclass(frozen=True)
class HealthSettings:
    # No frame for this long: offline.
    offline_after_s: float = 5.0
    # Any fault (bad bytes, reconnects, mesh errors) this recent: degraded.
    degraded_window_s: float = 10.0
    # Window of the fps and round-trip figures.
    rate_window_s: float = 5.0


@dataclass(frozen=True)
class Frame:
    """A frame on its way to the mesh. `capture_time_s` is wall-clock (the camera's, if it said)."""

    number: int
    capture_time_s: float
    received_mono: float
    jpeg: bytes


@dataclass(frozen=True)
class Answer:
    """The mesh's answer to one frame, as the dashboard and the events need it."""

    frame: Frame
    detections: Detections
    rtt_s: float
    answered_time_s: float
    engines: list[dict[str, Any]]
    served_by: dict[str, str]
    image_wh: tuple[int, int]


def shown_url(url: str) -> str:
    """The URL without a password (cameras may be added as http://user:secret@host/stream)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc}"))


def nearest_rank(ordered: list[float], q: float) -> float | None:
    """The q-quantile (0..1) of sorted values by nearest rank (a value seen, not interpolated);
    None without values."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Window:
    """Timestamps (and optional values) of the last `span_s` seconds."""

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self._items: deque[tuple[float, float]] = deque()

    def add(self, now: float, value: float = 0.0) -> None:
        self._items.append((now, value))
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._items and self._items[0][0] < now - self.span_s:
            self._items.popleft()

    def rate(self, now: float) -> float:
        self._trim(now)
        return len(self._items) / self.span_s

    def values(self, now: float) -> list[float]:
        self._trim(now)
        return [value for _t, value in self._items]


@dataclass
class Counters:
    received: int = 0
    sent: int = 0
    answered: int = 0
    failed: int = 0
    dropped_stale: int = 0
    connects: int = 0
    faults: Counter[str] = field(default_factory=Counter)


class Camera:
    """State shared by a camera's puller, its mesh link and the readers. Thread-safe."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        origin: str,
        health: HealthSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        keep_answers: int = 4,
    ) -> None:
        self.id = camera_id
        self.url = url
        self.origin = origin
        self.health = health
        self.clock = clock
        self.wall_clock = wall_clock
        self.added_mono = clock()
        self.mailbox: Mailbox[Frame] = Mailbox()
        self.counters = Counters()
        self._lock = threading.Lock()
        self._received = _Window(health.rate_window_s)
        self._answered = _Window(health.rate_window_s)
        self._recent_faults: deque[tuple[float, str, str]] = deque(maxlen=64)
        self._mesh_issues: deque[tuple[float, str, str]] = deque(maxlen=64)
        self._answers: deque[Answer] = deque(maxlen=keep_answers)
        self._last_frame_mono: float | None = None
        self._connected = False
        self._number = 0

    # -- written by the puller ----------------------------------------------------------------

    def frame(self, jpeg: bytes, camera_time_s: float | None) -> None:
        now = self.clock()
        with self._lock:
            self._number += 1
            self.counters.received += 1
            self._received.add(now)
            self._last_frame_mono = now
            number = self._number
        wall = self.wall_clock()
        # A camera's own timestamp only if its clock is set (an ESP32 without SNTP counts from boot).
        capture = camera_time_s if camera_time_s is not None and abs(camera_time_s - wall) < 300 else wall
        if self.mailbox.put(Frame(number, capture, now, jpeg)):
            with self._lock:
                self.counters.dropped_stale += 1

    def fault(self, kind: str, detail: str) -> None:
        with self._lock:
            self.counters.faults[kind] += 1
            self._recent_faults.append((self.clock(), kind, detail))

    def connected(self, connected: bool) -> None:
        with self._lock:
            if connected and not self._connected:
                self.counters.connects += 1
            self._connected = connected

    # -- written by the mesh link ---------------------------------------------------------------

    def sent(self) -> None:
        with self._lock:
            self.counters.sent += 1

    def stale(self) -> None:
        with self._lock:
            self.counters.dropped_stale += 1

    def answered(self, answer: Answer) -> None:
        with self._lock:
            self.counters.answered += 1
            self._answered.add(self.clock(), answer.rtt_s)
            self._answers.append(answer)

    def mesh_failed(self, code: str, detail: str, *, frame_lost: bool = True) -> None:
        """The mesh answered a frame (or the stream) with an error, or not in time.

        INVALID_ARGUMENT means the camera sent something that is not a usable JPEG: the
        camera's fault. Anything else (mesh down, overloaded, late) is the mesh's trouble:
        shown beside the camera, but it does not make the camera degraded.
        """
        with self._lock:
            if frame_lost:
                self.counters.failed += 1
            if code != "INVALID_ARGUMENT":
                self._mesh_issues.append((self.clock(), code, detail))
                return
        self.fault("rejected", f"the mesh refused a frame: {detail}")

    # -- read by the dashboard ------------------------------------------------------------------

    def answer(self, frame_number: int | None = None) -> Answer | None:
        """The newest answer, or the one for `frame_number` while it is still kept."""
        with self._lock:
            if not self._answers:
                return None
            if frame_number is None:
                return self._answers[-1]
            return next((a for a in self._answers if a.frame.number == frame_number), None)

    def state(self, now: float | None = None) -> tuple[str, str]:
        """(online | degraded | offline, why)."""
        now = self.clock() if now is None else now
        with self._lock:
            return self._state(now)

    def _state(self, now: float) -> tuple[str, str]:
        """Offline: no frames and nothing answers. Degraded: frames or bytes come, with faults."""
        h = self.health
        recent = [(t, k, d) for t, k, d in self._recent_faults if t >= now - h.degraded_window_s]
        last = self._last_frame_mono
        silent = last is None or now - last > h.offline_after_s
        reachable = [f for f in recent if f[1] not in UNREACHABLE]
        if silent and not reachable:
            if recent:
                return OFFLINE, f"{recent[-1][1]}: {recent[-1][2]}"
            if last is None:
                return OFFLINE, "waiting for the first frame"
            return OFFLINE, f"no frame for {now - last:.0f}s"
        if recent:
            kinds = Counter(k for _t, k, _d in recent)
            kind = kinds.most_common(1)[0][0]
            detail = next(d for _t, k, d in reversed(recent) if k == kind)
            prefix = "no good frame; " if silent else ""
            return DEGRADED, f"{prefix}{kind} x{kinds[kind]}: {detail}"
        return ONLINE, ""

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        now = self.clock() if now is None else now
        with self._lock:
            state, reason = self._state(now)
            rtts = sorted(self._answered.values(now))
            rtt_p50, rtt_p95 = nearest_rank(rtts, 0.5), nearest_rank(rtts, 0.95)
            last_answer = self._answers[-1] if self._answers else None
            c = self.counters
            return {
                "id": self.id,
                "url": shown_url(self.url),
                "origin": self.origin,
                "state": state,
                "reason": reason,
                "connected": self._connected,
                "fps_in": round(self._received.rate(now), 2),
                "fps_out": round(self._answered.rate(now), 2),
                "last_frame_age_s": None
                if self._last_frame_mono is None
                else round(now - self._last_frame_mono, 2),
                "rtt_ms": None if rtt_p50 is None else round(rtt_p50 * 1000, 1),
                "rtt_p95_ms": None if rtt_p95 is None else round(rtt_p95 * 1000, 1),
                "last_frame_number": None if last_answer is None else last_answer.frame.number,
                "received": c.received,
                "sent": c.sent,
                "answered": c.answered,
                "failed": c.failed,
                "dropped_stale": c.dropped_stale,
                "connects": c.connects,
                "faults": dict(c.faults),
                "mesh_issue": self._mesh_issue(now),
            }

    def _mesh_issue(self, now: float) -> str:
        recent = [(c, d) for t, c, d in self._mesh_issues if t >= now - self.health.degraded_window_s]
        if not recent:
            return ""
        codes = Counter(c for c, _d in recent)
        code, detail = recent[-1]
        return f"{code} x{codes[code]}: {detail}"
