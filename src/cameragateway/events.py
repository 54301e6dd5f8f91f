"""Answers as events: one JSON shape for the dashboard's live feed and the Kafka events topic.

An event says which camera (or robot) and frame, when it was captured and answered, every
detection with its attributes (identity, track id, ...), each engine's status and latency,
and who served it, so a consumer needs nothing else to act on it.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import deque
from typing import Any

from cameragateway.camera import Answer

EVENT_SCHEMA = "liquidedge.detection-event/1"


def iso_time(seconds: float) -> str:
    return (
        dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def detection_rows(answer: Answer) -> list[dict[str, Any]]:
    found = answer.detections
    rows = []
    for i, (x, y, w, h) in enumerate(found.xywh.tolist()):
        rows.append(
            {
                "label": str(found.label[i]),
                "engine": str(found.engine[i]),
                "confidence": round(float(found.confidence[i]), 4),
                "box": {"x": x, "y": y, "width": w, "height": h},
                "center_color": dict(zip("rgb", (int(v) for v in found.color_rgb[i]), strict=True)),
                "attributes": {k: _plain(v) for k, v in found.attributes(i).items()},
            }
        )
    return rows


def answer_event(source: str, source_kind: str, answer: Answer, gateway: str) -> dict[str, Any]:
    frame = answer.frame
    return {
        "schema": EVENT_SCHEMA,
        "source": source,
        "source_kind": source_kind,
        "frame": frame.number,
        "capture_time_us": round(frame.capture_time_s * 1e6),
        "capture_time": iso_time(frame.capture_time_s),
        "answered_time": iso_time(answer.answered_time_s),
        "rtt_ms": round(answer.rtt_s * 1000, 2),
        "image": {"width": answer.image_wh[0], "height": answer.image_wh[1]},
        "detections": detection_rows(answer),
        "engines": answer.engines,
        "served_by": answer.served_by,
        "gateway": gateway,
    }


def error_event(
    source: str,
    source_kind: str,
    frame_number: int,
    capture_time_s: float,
    code: str,
    message: str,
    gateway: str,
) -> dict[str, Any]:
    """A frame the mesh could not answer still gets an event, so a consumer never waits for it."""
    return {
        "schema": EVENT_SCHEMA,
        "source": source,
        "source_kind": source_kind,
        "frame": frame_number,
        "capture_time_us": round(capture_time_s * 1e6),
        "capture_time": iso_time(capture_time_s),
        "detections": [],
        "engines": [],
        "error": {"code": code, "message": message},
        "gateway": gateway,
    }


class _Subscriber:
    def __init__(self, limit: int) -> None:
        self.queue: deque[str] = deque(maxlen=limit)
        self.cond = threading.Condition()


class EventHub:
    """Fan-out of server-sent events. A slow browser loses its oldest events, never slows anyone."""

    def __init__(self, per_subscriber: int = 256) -> None:
        self.per_subscriber = per_subscriber
        self._subscribers: set[_Subscriber] = set()
        self._lock = threading.Lock()
        self._closed = False

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        if not subscribers:
            return
        message = f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
        for sub in subscribers:
            with sub.cond:
                sub.queue.append(message)
                sub.cond.notify()

    def subscribe(self) -> _Subscriber:
        sub = _Subscriber(self.per_subscriber)
        with self._lock:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: _Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    def next_messages(self, sub: _Subscriber, timeout_s: float) -> list[str]:
        """Whatever is queued for `sub` (waiting up to `timeout_s`); [] on timeout or close."""
        with sub.cond:
            sub.cond.wait_for(lambda: sub.queue or self._closed, timeout_s)
            messages = list(sub.queue)
            sub.queue.clear()
            return messages

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            with sub.cond:
                sub.cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
