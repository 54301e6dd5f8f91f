"""The gateway's Prometheus metrics, in a registry of its own (no process-global state)."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from liquidedge.metrics import LATENCY_BUCKETS

STATES = ("online", "degraded", "offline")


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames = Counter(
            "liquidedge_camera_frames",
            "Camera frames by stage: received from the camera, sent to the mesh, answered, failed",
            ["camera", "stage"],
            registry=r,
        )
        self.dropped = Counter(
            "liquidedge_camera_frames_dropped",
            "Frames not sent to the mesh because a newer one replaced them or their deadline passed",
            ["camera"],
            registry=r,
        )
        self.faults = Counter(
            "liquidedge_camera_faults",
            "Stream faults by kind (garbage, truncated, oversize, stalled, closed, refused, http, mesh, ...)",
            ["camera", "kind"],
            registry=r,
        )
        self.state = Gauge(
            "liquidedge_camera_state", "1 for the camera's current state", ["camera", "state"], registry=r
        )
        self.rtt = Histogram(
            "liquidedge_camera_rtt_seconds",
            "Time from sending a frame to the mesh to its answer",
            ["camera"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cameras = Gauge("liquidedge_cameras", "Cameras the gateway pulls", registry=r)
        self.registrations = Counter(
            "liquidedge_camera_registrations",
            "Registration and operator requests by outcome",
            ["outcome"],
            registry=r,
        )
        self.events_published = Counter(
            "liquidedge_kafka_events_published", "Events the Kafka broker acknowledged", registry=r
        )
        self.events_dropped = Counter(
            "liquidedge_kafka_events_dropped",
            "Events that could not be published (buffer full, delivery failed or timed out)",
            ["reason"],
            registry=r,
        )
        self.events_buffered = Gauge(
            "liquidedge_kafka_events_buffered", "Events waiting in the producer's bounded buffer", registry=r
        )
        self.kafka_frames = Counter(
            "liquidedge_kafka_frames",
            "Frames from the Kafka frames topic, by outcome (answered, failed)",
            ["outcome"],
            registry=r,
        )
        self._seen: dict[str, tuple[int, int, int, int, int]] = {}
        self._fault_seen: dict[tuple[str, str], int] = {}

    def observe_camera(self, snapshot: dict) -> None:
        """Bring the counters up to a camera snapshot's totals (the camera keeps the truth)."""
        camera = snapshot["id"]
        totals = (
            snapshot["received"],
            snapshot["sent"],
            snapshot["answered"],
            snapshot["failed"],
            snapshot["dropped_stale"],
        )
        before = self._seen.get(camera, (0, 0, 0, 0, 0))
        for stage, now, then in zip(("received", "sent", "answered", "failed"), totals, before, strict=False):
            if now > then:
                self.frames.labels(camera, stage).inc(now - then)
        if totals[4] > before[4]:
            self.dropped.labels(camera).inc(totals[4] - before[4])
        self._seen[camera] = totals
        for kind, count in snapshot["faults"].items():
            then = self._fault_seen.get((camera, kind), 0)
            if count > then:
                self.faults.labels(camera, kind).inc(count - then)
                self._fault_seen[(camera, kind)] = count
        for state in STATES:
            self.state.labels(camera, state).set(1.0 if snapshot["state"] == state else 0.0)

    def forget_camera(self, camera: str) -> None:
        """A removed camera's series go away with it (label values are operator-chosen ids)."""
        series = [
            *((self.frames, (camera, stage)) for stage in ("received", "sent", "answered", "failed")),
            (self.dropped, (camera,)),
            (self.rtt, (camera,)),
            *((self.state, (camera, state)) for state in STATES),
            *((self.faults, key) for key in self._fault_seen if key[0] == camera),
        ]
        for metric, labels in series:
            with contextlib.suppress(KeyError):  # a series never observed
                metric.remove(*labels)
        self._seen.pop(camera, None)
        for key in [k for k in self._fault_seen if k[0] == camera]:
            del self._fault_seen[key]
