"""The gateway's HTTP side: camera registration, the dashboard, its live feed, MJPEG views.

| method and path                    | what                                                          |
|------------------------------------|---------------------------------------------------------------|
| GET /register?ip=A&token=T         | a field camera announces itself (also `id`, `url`)            |
| GET /, /camera/<id>                | the dashboard: every camera, or one                           |
| GET /static/<file>                 | its HTML, CSS and JavaScript (nothing comes from elsewhere)  |
| GET /api/state                     | cameras, engines, Kafka, recent detections, chart history     |
| GET /api/events                    | server-sent events: answer, state, cameras                    |
| GET /api/cameras/<id>/frame.jpg    | an answered frame as sent (`?n=` frame number), boxes drawn client-side |
| GET /api/cameras/<id>/annotated.jpg| the newest answered frame with boxes drawn here               |
| GET /api/cameras/<id>/stream       | that, as MJPEG                                                |
| GET /video_feed                    | every camera tiled, as MJPEG (old bookmarks)                  |
| POST /api/cameras                  | operator: add a camera `{"id", "url"}` or `{"id", "ip"}`      |
| DELETE /api/cameras/<id>           | operator: remove a camera                                     |
| GET /healthz, /readyz              | liveness; readiness (503 while draining)                      |

One thread per connection (the standard library's ThreadingHTTPServer): long-lived streams
(events, MJPEG) each hold one, and none of them can slow the cameras' threads.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cameragateway.annotate import Annotator
from cameragateway.events import EventHub
from cameragateway.fleet import CameraFleet, FleetFull
from cameragateway.metrics import GatewayMetrics
from cameragateway.registration import RegistrationError, TokenCheck, camera_spec, spec_from_query
from liquidedge.mjpeg import MJPEG_CONTENT_TYPE, mjpeg_part

log = logging.getLogger(__name__)

# Examples of the paths whose responses never end (a proxy must not time them out).
LIVE_PATHS = ("/api/events", "/video_feed", "/api/cameras/gate-1/stream")
MAX_BODY_BYTES = 16 * 1024
# Long-lived responses (events, MJPEG) at once: each holds a thread. More get 503.
MAX_STREAMS = 64
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s]*")
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def _static_files() -> dict[str, bytes]:
    """The dashboard's assets, read once from the package."""
    folder = resources.files("cameragateway") / "static"
    return {entry.name: entry.read_bytes() for entry in folder.iterdir() if entry.name[-4:] != ".pyc"}


@dataclass
class WebSettings:
    camera_tokens: TokenCheck
    operator_tokens: TokenCheck
    stream_path: str = "/stream"
    mjpeg_fps: float = 5.0
    heartbeat_s: float = 15.0


class GatewayHttp:
    def __init__(
        self,
        host: str,
        port: int,
        fleet: CameraFleet,
        hub: EventHub,
        metrics: GatewayMetrics,
        settings: WebSettings,
    ) -> None:
        self.fleet = fleet
        self.hub = hub
        self.metrics = metrics
        self.settings = settings
        self.annotator = Annotator()
        self.static = _static_files()
        self.draining = threading.Event()
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> GatewayHttp:
        self._thread.start()
        log.info("dashboard on http://%s:%d/", self._httpd.server_address[0], self.port)
        return self

    def stop(self) -> None:
        self.draining.set()
        self.hub.close()
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- requests -----------------------------------------------------------------------------

    def register(self, query: dict[str, list[str]], peer: str) -> tuple[int, dict[str, Any]]:
        token = (query.get("token") or [""])[0]
        if not self.settings.camera_tokens:
            self.metrics.registrations.labels("refused").inc()
            log.warning("camera registration refused: no camera tokens configured", extra={"peer": peer})
            return 403, {"error": "camera registration is off: the gateway has no CAMERA_TOKENS_FILE"}
        if not self.settings.camera_tokens.ok(token):
            self.metrics.registrations.labels("refused").inc()
            log.warning(
                "camera registration refused: wrong token",
                extra={"peer": peer, "ip": (query.get("ip") or [""])[0]},
            )
            return 403, {"error": "wrong camera token"}
        try:
            spec = spec_from_query(query, self.settings.stream_path)
        except RegistrationError as error:
            self.metrics.registrations.labels("invalid").inc()
            return 400, {"error": str(error)}
        try:
            outcome = self.fleet.add(spec, "registered")
        except FleetFull as error:
            self.metrics.registrations.labels("full").inc()
            log.warning("camera registration refused: %s", error, extra={"camera": spec.camera_id})
            return 429, {"error": str(error)}
        self.metrics.registrations.labels(outcome).inc()
        log.info(
            "camera registration",
            extra={"camera": spec.camera_id, "url": spec.url, "outcome": outcome, "peer": peer},
        )
        return 200, {"id": spec.camera_id, "stream_url": spec.url, "result": outcome}

    def operator_allowed(self, authorization: str) -> tuple[int, str] | None:
        """None when the request carries a valid operator token, else (status, why)."""
        if not self.settings.operator_tokens:
            return 403, "camera management is off: the gateway has no OPERATOR_TOKEN_FILE"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not self.settings.operator_tokens.ok(token.strip()):
            return 401, "operator token required (Authorization: Bearer <token>)"
        return None

    def add_camera(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            spec = camera_spec(
                camera_id=str(body.get("id", "")),
                ip=str(body.get("ip", "")),
                url=str(body.get("url", "")),
                stream_path=self.settings.stream_path,
            )
        except RegistrationError as error:
            return 400, {"error": str(error)}
        try:
            outcome = self.fleet.add(spec, "operator")
        except FleetFull as error:
            return 429, {"error": str(error)}
        self.metrics.registrations.labels(outcome).inc()
        return 200, {"id": spec.camera_id, "stream_url": spec.url, "result": outcome}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "liquidedge-cameragateway"
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: object) -> None:
                log.debug("http %s", _TOKEN_IN_QUERY.sub(r"\1<redacted>", fmt % args))

            # -- plumbing ------------------------------------------------------------------

            def _send(
                self, code: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                if self.close_connection:
                    self.send_header("Connection", "close")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _json(self, code: int, data: Any) -> None:
                self._send(code, "application/json", json.dumps(data, separators=(",", ":")).encode())

            def _error(self, code: int, message: str) -> None:
                self._json(code, {"error": message})

            def _body(self) -> dict[str, Any] | None:
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY_BYTES:
                    self.close_connection = True  # the unread body must not become the next request
                    self._error(
                        413 if length > 0 else 400, f"body must be JSON of at most {MAX_BODY_BYTES} bytes"
                    )
                    return None
                try:
                    data = json.loads(self.rfile.read(length) or b"{}")
                except (json.JSONDecodeError, UnicodeDecodeError):
                    self._error(400, "body is not JSON")
                    return None
                if not isinstance(data, dict):
                    self._error(400, "body must be a JSON object")
                    return None
                return data

            # -- routes --------------------------------------------------------------------

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                path, query = url.path, parse_qs(url.query)
                parts = [unquote(p) for p in path.strip("/").split("/")] if path != "/" else []
                if path == "/register":
                    code, data = gateway.register(query, self.client_address[0])
                    self._json(code, data)
                elif path in ("/", "/index.html") or (len(parts) == 2 and parts[0] == "camera"):
                    self._send(200, STATIC_TYPES[".html"], gateway.static["index.html"])
                elif len(parts) == 2 and parts[0] == "static" and parts[1] in gateway.static:
                    suffix = parts[1][parts[1].rfind(".") :]
                    self._send(
                        200, STATIC_TYPES.get(suffix, "application/octet-stream"), gateway.static[parts[1]]
                    )
                elif path == "/api/state":
                    self._json(200, gateway.fleet.state())
                elif path == "/api/events":
                    self._events()
                elif len(parts) == 4 and parts[:2] == ["api", "cameras"]:
                    self._camera_get(parts[2], parts[3], query)
                elif path == "/video_feed":
                    self._mjpeg(lambda: gateway.annotator.mosaic(gateway.fleet.cameras()))
                elif path == "/healthz":
                    self._send(200, "text/plain", b"ok\n")
                elif path == "/readyz":
                    ready = not gateway.draining.is_set()
                    self._send(200 if ready else 503, "text/plain", b"ready\n" if ready else b"draining\n")
                else:
                    self._error(404, f"no such page: {path}")

            def _camera_get(self, camera_id: str, what: str, query: dict[str, list[str]]) -> None:
                camera = gateway.fleet.get(camera_id)
                if camera is None:
                    self._error(404, f"no camera {camera_id!r}")
                    return
                if what == "frame.jpg":
                    wanted = (query.get("n") or [""])[0]
                    answer = camera.answer(int(wanted) if wanted.isdigit() else None)
                    if answer is None:
                        self._error(
                            404, "that frame is no longer kept" if wanted else "no answered frame yet"
                        )
                    else:
                        self._send(
                            200, "image/jpeg", answer.frame.jpeg, {"X-Frame-Number": str(answer.frame.number)}
                        )
                elif what == "annotated.jpg":
                    jpeg = gateway.annotator.jpeg(camera)
                    if jpeg is None:
                        self._error(404, "no answered frame yet")
                    else:
                        self._send(200, "image/jpeg", jpeg)
                elif what == "stream":
                    self._mjpeg(
                        lambda: gateway.annotator.jpeg(camera),
                        stop=lambda: gateway.fleet.get(camera_id) is not camera,
                    )
                else:
                    self._error(404, f"no such camera resource: {what}")

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/api/cameras":
                    self._error(404, "POST goes to /api/cameras")
                    return
                # The body is read first, even from a caller about to be refused: what is left
                # unread on a kept-alive connection would be parsed as the next request.
                body = self._body()
                if body is None or self._refused():
                    return
                self._json(*gateway.add_camera(body))

            def _refused(self) -> bool:
                refused = gateway.operator_allowed(self.headers.get("Authorization", ""))
                if refused:
                    gateway.metrics.registrations.labels("refused").inc()
                    log.warning(
                        "operator request refused", extra={"peer": self.client_address[0], "why": refused[1]}
                    )
                    self._error(*refused)
                return refused is not None

            def do_DELETE(self) -> None:
                parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
                if len(parts) != 3 or parts[:2] != ["api", "cameras"]:
                    self._error(404, "DELETE goes to /api/cameras/<id>")
                    return
                if self._body() is None or self._refused():
                    return
                if gateway.fleet.remove(parts[2], reason="operator"):
                    self._json(200, {"id": parts[2], "result": "removed"})
                else:
                    self._error(404, f"no camera {parts[2]!r}")

            # -- long-lived responses ----------------------------------------------------------

            def _stream_slot(self) -> bool:
                if gateway.streams.acquire(blocking=False):
                    return True
                self._error(503, f"too many live views open ({MAX_STREAMS}); close one and retry")
                return False

            def _events(self) -> None:
                if not self._stream_slot():
                    return
                try:
                    self._event_stream()
                finally:
                    gateway.streams.release()

            def _event_stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                sub = gateway.hub.subscribe()
                try:
                    self.wfile.write(b"retry: 2000\n\n")
                    self.wfile.flush()
                    last_write = time.monotonic()
                    while not gateway.hub.closed:
                        messages = gateway.hub.next_messages(sub, 1.0)
                        if messages:
                            self.wfile.write("".join(messages).encode())
                        elif time.monotonic() - last_write > gateway.settings.heartbeat_s:
                            self.wfile.write(b": keep-alive\n\n")
                        else:
                            continue
                        self.wfile.flush()
                        last_write = time.monotonic()
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    pass  # the browser went away
                finally:
                    gateway.hub.unsubscribe(sub)

            def _mjpeg(self, render: Any, stop: Any = lambda: False) -> None:
                if not self._stream_slot():
                    return
                try:
                    self._mjpeg_stream(render, stop)
                finally:
                    gateway.streams.release()

            def _mjpeg_stream(self, render: Any, stop: Any) -> None:
                self.send_response(200)
                self.send_header("Content-Type", MJPEG_CONTENT_TYPE)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                period_s = 1.0 / gateway.settings.mjpeg_fps
                try:
                    while not gateway.draining.is_set() and not stop():
                        jpeg = render()
                        if jpeg is not None:
                            self.wfile.write(mjpeg_part(jpeg))
                            self.wfile.flush()
                        gateway.draining.wait(period_s)
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    pass

        return Handler
