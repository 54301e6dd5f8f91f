"""Prometheus metrics of one service, in a registry of its own (no process-global state), and
the service's status document beside them.

The gRPC health protocol carries one word (SERVING or not); an operator asking *why* a model
version was not taken, or which replicas an aggregator is using, needs more. `GET /status` on
the metrics port answers with JSON: which model version each engine serves, which versions were
refused and why, the inference backend each engine runs on, and (aggregator) every replica of
every engine with its ejection state.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

log = logging.getLogger(__name__)

# Latency buckets from 1 ms to 10 s: GPU frames take a few ms, CPU YOLO a few hundred.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "liquidedge_requests",
            "Requests handled, by method and gRPC status code",
            ["service", "method", "code"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "liquidedge_request_latency_seconds",
            "Time from receipt to answer, by method",
            ["service", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.engine_latency = Histogram(
            "liquidedge_engine_latency_seconds",
            "Time of one engine's work on one frame (in the aggregator: the whole engine call)",
            ["service", "engine"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.engine_calls = Counter(
            "liquidedge_engine_calls",
            "Engine calls by outcome (gRPC status code name)",
            ["service", "engine", "code"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "liquidedge_frames_in_flight", "Frames being processed now", ["service"], registry=self.registry
        )
        self.shed = Counter(
            "liquidedge_shed_frames",
            "Frames refused with RESOURCE_EXHAUSTED because the in-flight limit was reached",
            ["service"],
            registry=self.registry,
        )
        self.backend_up = Gauge(
            "liquidedge_backend_up",
            "1 when the aggregator's last health check of an engine backend said SERVING",
            ["service", "engine"],
            registry=self.registry,
        )
        self.replicas_in_service = Gauge(
            "liquidedge_replicas_in_service",
            "Detector replicas the aggregator currently sends frames to, by engine",
            ["service", "engine"],
            registry=self.registry,
        )
        self.ejections = Counter(
            "liquidedge_replica_ejections",
            "Detector replicas taken out of service by outlier detection",
            ["service", "engine", "reason"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "liquidedge_model_info",
            "1 for the model version an engine serves now (hot-swapped versions replace the label)",
            ["service", "engine", "version"],
            registry=self.registry,
        )
        self.backend_info = Gauge(
            "liquidedge_backend_info",
            "1 for the inference backend and precision an engine runs on; fallback=true when not the preferred one",
            ["service", "engine", "backend", "precision", "fallback"],
            registry=self.registry,
        )
        self.model_swaps = Counter(
            "liquidedge_model_swaps",
            "Model versions offered to an engine, by outcome (accepted, refused)",
            ["service", "engine", "outcome"],
            registry=self.registry,
        )
        self.model_load = Histogram(
            "liquidedge_model_load_seconds",
            "Time to load and smoke-test a model version beside the serving one",
            ["service", "engine"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=self.registry,
        )
        self.service = service
        # engine -> a function describing its model slot now; filled by the slots themselves
        self.model_states: dict[str, Callable[[], dict[str, Any]]] = {}
        # engine -> a function listing the replicas an aggregator sends that engine's frames to
        self.replica_states: dict[str, Callable[[], list[dict[str, Any]]]] = {}

    def status(self) -> dict[str, Any]:
        """The document `GET /status` answers with."""
        backends = {
            sample.labels["engine"]: {
                "backend": sample.labels["backend"],
                "precision": sample.labels["precision"],
                "fallback": sample.labels["fallback"] == "true",
            }
            for family in self.backend_info.collect()
            for sample in family.samples
            if sample.value == 1
        }
        models = {engine: describe() for engine, describe in sorted(self.model_states.items())}
        document = {"service": self.service, "models": models, "backends": backends}
        if self.replica_states:
            document["replicas"] = {
                engine: list_them() for engine, list_them in sorted(self.replica_states.items())
            }
        return document

    def count_request(self, method: str, code: str, seconds: float) -> None:
        self.requests.labels(self.service, method, code).inc()
        self.request_latency.labels(self.service, method).observe(seconds)

    def observe_engine(self, engine: str, code: str, seconds: float) -> None:
        self.engine_calls.labels(self.service, engine, code).inc()
        self.engine_latency.labels(self.service, engine).observe(seconds)

    @contextmanager
    def frame_in_flight(self) -> Iterator[None]:
        gauge = self.in_flight.labels(self.service)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def serving(self, host: str, port: int) -> AbstractContextManager[int | None]:
        """Expose /metrics and /status over HTTP while the block runs; yields the bound port
        (None when port < 0)."""
        return serve_metrics(self.registry, host, port, status=self.status)


@contextmanager
def serve_metrics(
    registry: CollectorRegistry,
    host: str,
    port: int,
    status: Callable[[], dict[str, Any]] | None = None,
) -> Iterator[int | None]:
    """Serve `registry` on /metrics (and `status` as JSON on /status) while the block runs; yields
    the bound port, None when port < 0. Every program's metrics port, shut down and joined on exit."""
    if port < 0:
        yield None
        return
    try:
        server = _http_server(host, port, _StatusAndMetrics(registry, status))
    except OSError as error:
        raise OSError(f"could not serve /metrics on {host}:{port}: {error.strerror}") from error
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    log.info(
        "metrics on http://%s:%d/metrics%s", host, server.server_port, ", status on /status" if status else ""
    )
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _StatusAndMetrics:
    """WSGI app: `/status` as JSON (when there is one), every other path the Prometheus exposition."""

    def __init__(self, registry: CollectorRegistry, status: Callable[[], dict[str, Any]] | None) -> None:
        self.status = status
        self.exposition = make_wsgi_app(registry)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.status is None or environ.get("PATH_INFO") != "/status":
            return self.exposition(environ, start_response)
        body = json.dumps(self.status(), sort_keys=True).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: not news
        pass


def _http_server(host: str, port: int, app: Callable[..., Iterable[bytes]]) -> WSGIServer:
    """A threading WSGI server on host:port, IPv6 when the host is an IPv6 address."""
    family, _, _, _, sockaddr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    server_class = type("_Server", (_ThreadingServer,), {"address_family": family})
    return make_server(sockaddr[0], port, app, server_class, handler_class=_QuietHandler)
