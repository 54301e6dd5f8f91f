"""The ingest HTTP endpoint: `curl -T data.zip 'http://host:8090/zip?edgeId=edge1'`.

PUT (what `curl -T` sends) or POST of the raw zip to `/zip`; `GET /healthz` and
`GET /metrics` (Prometheus) beside it. Answers are JSON: 201 with the dataset version, or
an error status with `{"error": "..."}`: 400 malformed request or archive, 401 no or an
unknown bearer token (when tokens are configured), 411 no length,
413 over a size limit (checked from Content-Length before the body is read, and again while
it streams), 422 content that breaks the rules, 429 too many uploads at once, 503 when the
store or the trigger is unavailable.
"""

from __future__ import annotations

import json
import logging
import socket
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from datasetingest.errors import BadRequest, Busy, Unauthorized, UploadRejected
from datasetingest.ingest import Ingestor, TriggerFailed
from datasetingest.upload import copy_body, declared_length
from liquidedge.security import bearer_token, known_token
from modelstore.errors import ModelStoreError

log = logging.getLogger(__name__)

UPLOAD_PATH = "/zip"
# After refusing a body that is still arriving: keep reading (and dropping) this long/this much,
# so the client reads our answer instead of a connection reset (what nginx calls lingering close).
LINGER_S = 1.0
LINGER_BYTES = 8 * 1024 * 1024


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.uploads = Counter(
            "liquidedge_ingest_uploads", "Dataset uploads by HTTP status", ["status"], registry=self.registry
        )
        self.bytes = Counter(
            "liquidedge_ingest_upload_bytes", "Bytes of dataset uploads received", registry=self.registry
        )


class IngestServer:
    def __init__(
        self,
        host: str,
        port: int,
        ingestor: Ingestor,
        *,
        max_upload_bytes: int,
        max_concurrent: int = 2,
        tokens: frozenset[str] = frozenset(),
    ) -> None:
        self.ingestor = ingestor
        self.tokens = tuple(token.encode() for token in tokens)
        self.max_upload_bytes = max_upload_bytes
        self.metrics = IngestMetrics()
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        # a short poll interval makes stop() prompt (shutdown waits for the loop to look)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="ingest-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> IngestServer:
        self._thread.start()
        log.info("dataset ingest on http://%s:%d%s", self._httpd.server_address[0], self.port, UPLOAD_PATH)
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def authorised(self, header: str | None) -> bool:
        """`Authorization: Bearer <token>` with a known token, when tokens are configured."""
        if not self.tokens:
            return True
        token = bearer_token(header or "")
        return token is not None and known_token(token, self.tokens)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: object) -> None:
                log.debug("%s %s", self.address_string(), fmt % args)

            def _answer(self, status: int, body: dict[str, Any], *, close: bool = False) -> None:
                data = (json.dumps(body, sort_keys=True) + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(data)
                if close:
                    self._linger()

            def _linger(self) -> None:
                try:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_WR)
                    self.connection.settimeout(LINGER_S)
                    drained = 0
                    while drained < LINGER_BYTES and (chunk := self.connection.recv(1 << 16)):
                        drained += len(chunk)
                except OSError:
                    pass

            def _refuse(self, error: UploadRejected, *, close: bool) -> None:
                server.metrics.uploads.labels(str(error.status)).inc()
                log.info("upload refused (%d): %s", error.status, error.message)
                self._answer(error.status, {"error": error.message}, close=close)

            def _target(self) -> tuple[str, int | None]:
                """Checks that need only the request line and headers: (edgeId, length)."""
                url = urlsplit(self.path)
                if url.path != UPLOAD_PATH:
                    raise _NotFound(f"no such endpoint {url.path}; upload to {UPLOAD_PATH}?edgeId=...")
                if not server.authorised(self.headers.get("Authorization")):
                    raise Unauthorized("send 'Authorization: Bearer <token>' with a token the ingest knows")
                edge = parse_qs(url.query).get("edgeId", [""])[0]
                if not edge:
                    raise BadRequest("the edgeId query parameter is required: /zip?edgeId=edge1")
                return edge, declared_length(self.headers, server.max_upload_bytes)

            def handle_expect_100(self) -> bool:
                # Refuse a 2 GB upload before the client sends it: answer instead of "100 Continue".
                try:
                    self._target()
                except _NotFound as error:
                    self._answer(404, {"error": str(error)}, close=True)
                    return False
                except UploadRejected as error:
                    self._refuse(error, close=True)
                    return False
                return super().handle_expect_100()

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path == "/healthz":
                    self._answer(200, {"status": "SERVING"})
                elif path == "/metrics":
                    data = generate_latest(server.metrics.registry)
                    self.send_response(200)
                    self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif path == UPLOAD_PATH:
                    self._answer(405, {"error": f"upload with PUT or POST to {UPLOAD_PATH}"}, close=False)
                else:
                    self._answer(404, {"error": f"no such endpoint {path}"})

            def do_PUT(self) -> None:
                self._upload()

            def do_POST(self) -> None:
                self._upload()

            def _upload(self) -> None:
                body_read = False
                try:
                    edge, length = self._target()
                    if not server._slots.acquire(blocking=False):
                        raise Busy("too many uploads in progress; retry in a moment")
                    try:
                        with tempfile.NamedTemporaryFile(
                            dir=server.ingestor.work_dir, prefix="upload-"
                        ) as out:
                            size = copy_body(self.rfile, out, length, server.max_upload_bytes)
                            body_read = True
                            out.flush()
                            server.metrics.bytes.inc(size)
                            ingested = server.ingestor.ingest(Path(out.name), edge, upload_bytes=size)
                    finally:
                        server._slots.release()
                except _NotFound as error:
                    self._answer(404, {"error": str(error)}, close=True)
                except UploadRejected as error:
                    self._refuse(error, close=not body_read)
                except ValueError as error:  # edgeId that is not a valid dataset name
                    self._refuse(BadRequest(str(error)), close=not body_read)
                except TriggerFailed as error:
                    server.metrics.uploads.labels("503").inc()
                    log.error("%s", error)
                    self._answer(503, {"error": str(error), **error.ingested.to_dict()})
                except ModelStoreError as error:
                    server.metrics.uploads.labels("503").inc()
                    log.error("model store failed during an upload: %s", error)
                    self._answer(
                        503, {"error": f"the model store is unavailable: {error}"}, close=not body_read
                    )
                else:
                    server.metrics.uploads.labels("201").inc()
                    self._answer(201, ingested.to_dict())

        return Handler


class _NotFound(Exception):
    pass
