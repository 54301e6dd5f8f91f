"""The cameras the gateway pulls: add, replace, remove, and the once-a-second housekeeping.

Each camera gets a puller (its MJPEG stream) and a mesh link (its own DetectStream), both on
threads of their own. Every answer becomes one event, handed to every sink (the dashboard's
live feed, Kafka). Once a second the fleet logs state changes, updates the metrics, samples
the charts' history, removes cameras that registered and then stayed offline too long, and
publishes a state snapshot to the dashboard.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc

from cameragateway.board import EngineBoard, History, RecentDetections
from cameragateway.camera import OFFLINE, Answer, Camera, HealthSettings
from cameragateway.events import EventHub, answer_event
from cameragateway.gate import FairGate
from cameragateway.meshlink import CameraLink, LinkSettings
from cameragateway.metrics import GatewayMetrics
from cameragateway.puller import MjpegPuller, PullSettings
from cameragateway.registration import CameraSpec

log = logging.getLogger(__name__)

ADDED, UNCHANGED, UPDATED = "added", "unchanged", "updated"


class FleetFull(Exception):
    """No room for another camera (`max_cameras`)."""


# Cameras listed in the cameras file are configuration: never removed for being offline.
STATIC_ORIGINS = frozenset({"config"})


class EventSink(Protocol):
    def publish(self, key: str, event: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class FleetSettings:
    pull: PullSettings = field(default_factory=PullSettings)
    link: LinkSettings = field(default_factory=LinkSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    # Most frames in the mesh at once, over all cameras (the gate adapts below this).
    max_in_flight: int = 4
    # Most cameras pulled at once (each costs two threads and a stream to the mesh).
    max_cameras: int = 64
    # A registered camera offline this long is forgotten; 0 keeps it forever.
    remove_after_s: float = 600.0
    gateway_name: str = field(default_factory=socket.gethostname)


@dataclass
class _Entry:
    camera: Camera
    puller: MjpegPuller
    link: CameraLink
    state: str = OFFLINE

    def stop(self) -> None:
        self.puller.stop()
        self.link.stop()


class CameraFleet:
    def __init__(
        self,
        channel: grpc.Channel,
        settings: FleetSettings,
        hub: EventHub,
        metrics: GatewayMetrics,
        *,
        sinks: tuple[EventSink, ...] = (),
        metadata: tuple[tuple[str, str], ...] = (),
        extra_state: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.channel = channel
        self.settings = settings
        self.hub = hub
        self.metrics = metrics
        self.sinks = sinks
        self.metadata = metadata
        self.extra_state = extra_state
        self.gate = FairGate(settings.max_in_flight)
        self.engines = EngineBoard()
        self.detections = RecentDetections()
        self.history = History()
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._janitor = threading.Thread(target=self._run_janitor, name="fleet-janitor", daemon=True)

    # -- cameras --------------------------------------------------------------------------------

    def add(self, spec: CameraSpec, origin: str) -> str:
        """Start pulling `spec`; the same id with the same URL is a no-op, with a new URL a restart."""
        with self._lock:
            old = self._entries.get(spec.camera_id)
            if old is not None and old.camera.url == spec.url:
                return UNCHANGED
            if old is None and len(self._entries) >= self.settings.max_cameras:
                raise FleetFull(
                    f"the gateway already pulls {self.settings.max_cameras} cameras (MAX_CAMERAS)"
                )
            if old is not None:
                del self._entries[spec.camera_id]
            entry = self._start(spec, origin if old is None else old.camera.origin)
            self._entries[spec.camera_id] = entry
        if old is not None:
            old.stop()
            self.metrics.forget_camera(spec.camera_id)
            log.info("camera moved", extra={"camera": spec.camera_id, "url": spec.url, "was": old.camera.url})
        else:
            log.info("camera added", extra={"camera": spec.camera_id, "url": spec.url, "origin": origin})
        self.hub.publish("cameras", {"ids": self.ids()})
        return ADDED if old is None else UPDATED

    def _start(self, spec: CameraSpec, origin: str) -> _Entry:
        s = self.settings
        camera = Camera(spec.camera_id, spec.url, origin, s.health)
        puller = MjpegPuller(spec.url, camera, s.pull, name=spec.camera_id)
        link = CameraLink(
            self.channel, camera, s.link, self._on_answer, gate=self.gate, metadata=self.metadata
        )
        link.start()
        puller.start()
        return _Entry(camera, puller, link)

    def remove(self, camera_id: str, reason: str = "removed") -> bool:
        with self._lock:
            entry = self._entries.pop(camera_id, None)
        if entry is None:
            return False
        entry.stop()
        self.metrics.forget_camera(camera_id)
        log.info("camera removed", extra={"camera": camera_id, "reason": reason})
        self.hub.publish("cameras", {"ids": self.ids()})
        return True

    def get(self, camera_id: str) -> Camera | None:
        with self._lock:
            entry = self._entries.get(camera_id)
        return None if entry is None else entry.camera

    def cameras(self) -> list[Camera]:
        with self._lock:
            return [entry.camera for entry in self._entries.values()]

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    # -- answers --------------------------------------------------------------------------------

    def _on_answer(self, camera: Camera, answer: Answer) -> None:
        self.metrics.rtt.labels(camera.id).observe(answer.rtt_s)
        self.publish_answer(camera.id, "camera", answer)

    def publish_answer(self, source: str, source_kind: str, answer: Answer) -> dict[str, Any]:
        """One answer to every audience: engine board, recent detections, live feed, sinks."""
        event = answer_event(source, source_kind, answer, self.settings.gateway_name)
        self.engines.update(answer.engines, time.monotonic())
        self.detections.add(event)
        self.hub.publish("answer", event)
        for sink in self.sinks:
            sink.publish(source, event)
        return event

    # -- housekeeping ------------------------------------------------------------------------------

    def start(self) -> CameraFleet:
        self._janitor.start()
        return self

    def _run_janitor(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.tick()
            except Exception:
                log.exception("fleet housekeeping failed")

    def tick(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            entries = list(self._entries.values())
        snapshots = []
        for entry in entries:
            snap = entry.camera.snapshot(now)
            snapshots.append(snap)
            self.metrics.observe_camera(snap)
            if snap["state"] != entry.state:
                log.info(
                    "camera %s",
                    snap["state"],
                    extra={"camera": snap["id"], "was": entry.state, "why": snap["reason"]},
                )
                entry.state = snap["state"]
            if self._expired(entry, snap, now):
                self.remove(snap["id"], reason=f"offline for more than {self.settings.remove_after_s:g}s")
        self.metrics.cameras.set(len(self.ids()))
        engines = self.engines.snapshot(now)
        sample = self.history.sample(time.time(), snapshots, engines)
        state = self._state(snapshots, engines)
        state["sample"] = sample
        self.hub.publish("state", state)
        return state

    def _expired(self, entry: _Entry, snap: dict[str, Any], now: float) -> bool:
        limit = self.settings.remove_after_s
        if limit <= 0 or entry.camera.origin in STATIC_ORIGINS or snap["state"] != OFFLINE:
            return False
        age = snap["last_frame_age_s"]
        silent_for = now - entry.camera.added_mono if age is None else age
        return silent_for > limit

    def _state(self, snapshots: list[dict[str, Any]], engines: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "gateway": self.settings.gateway_name,
            "time": time.time(),
            "cameras": sorted(snapshots, key=lambda c: c["id"]),
            "engines": engines,
            "gate": self.gate.stats(),
            **self.extra_state(),
        }

    def state(self) -> dict[str, Any]:
        """Everything the dashboard needs on page load: state, recent detections and history."""
        now = time.monotonic()
        with self._lock:
            entries = list(self._entries.values())
        state = self._state([e.camera.snapshot(now) for e in entries], self.engines.snapshot(now))
        state["detections"] = self.detections.snapshot()
        state["history"] = self.history.snapshot()
        return state

    def close(self) -> None:
        self._stop.set()
        if self._janitor.is_alive():
            self._janitor.join(5.0)
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            entry.stop()
