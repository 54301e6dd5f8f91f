"""What the dashboard shows beside the cameras: engine health, recent detections, short history.

Engine health is read from the answers themselves (each carries every engine's status and
latency), so it describes what the cameras' frames actually met, not a probe's view.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from cameragateway.camera import nearest_rank
from cameragateway.events import iso_time


class EngineBoard:
    """Per engine: last status, median latency over a window, who served it, when last seen."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._engines: dict[str, dict[str, Any]] = {}
        self._latencies: dict[str, deque[tuple[float, float]]] = {}

    def update(self, statuses: list[dict[str, Any]], now: float) -> None:
        with self._lock:
            for status in statuses:
                name = str(status.get("engine", "?"))
                served = status.get("served_by") or {}
                self._engines[name] = {
                    "engine": name,
                    "ok": bool(status.get("ok")),
                    "code": status.get("code", ""),
                    "error": status.get("error", ""),
                    "served_by": served.get("hostname", ""),
                    "seen": now,
                }
                window = self._latencies.setdefault(name, deque(maxlen=512))
                window.append((now, float(status.get("latency_ms", 0.0))))

    def snapshot(self, now: float) -> list[dict[str, Any]]:
        with self._lock:
            rows = []
            for name in sorted(self._engines):
                row = dict(self._engines[name])
                recent = [v for t, v in self._latencies[name] if t >= now - self.window_s]
                median = nearest_rank(sorted(recent), 0.5)
                row["latency_ms"] = None if median is None else round(median, 1)
                row["age_s"] = round(now - row.pop("seen"), 1)
                rows.append(row)
            return rows


class RecentDetections:
    """The newest detection rows across every source, newest first."""

    def __init__(self, keep: int = 100) -> None:
        self._rows: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, event: dict[str, Any]) -> None:
        rows = [
            {
                "time": event.get("answered_time") or event["capture_time"],
                "source": event["source"],
                "frame": event["frame"],
                "label": d["label"],
                "engine": d["engine"],
                "confidence": d["confidence"],
                "box": d["box"],
                "identity": d["attributes"].get("identity"),
            }
            for d in event["detections"]
        ]
        with self._lock:
            self._rows.extendleft(rows)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._rows)


class History:
    """One sample a second of per-camera fps and round-trip time, and engine latency, for charts."""

    def __init__(self, keep: int = 300) -> None:
        self._samples: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def sample(self, wall_s: float, cameras: list[dict[str, Any]], engines: list[dict[str, Any]]) -> dict:
        sample = {
            "t": iso_time(wall_s),
            "cameras": {c["id"]: {"fps": c["fps_out"], "rtt_ms": c["rtt_ms"]} for c in cameras},
            "engines": {e["engine"]: e["latency_ms"] for e in engines},
        }
        with self._lock:
            self._samples.append(sample)
        return sample

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._samples)
