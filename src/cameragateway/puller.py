"""Pull one camera's MJPEG stream over HTTP, forever, reconnecting with back-off.

One thread per camera, so a camera that stalls, floods or flaps costs its own thread and
nothing else. Every socket operation has a timeout, a part must complete within
`stall_timeout_s` (a camera trickling a byte a second is cut too), and the parser bounds
memory. What goes wrong is reported to `CameraSink.fault` as a kind (`refused`, `http`,
`not_mjpeg`, `stalled`, `closed`, `garbage`, `truncated`, `oversize`, `protocol`) and a
detail, so the dashboard can say why a camera is degraded.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit

from cameragateway.mjpeg_parser import MjpegParser, Part, Skipped, StreamError, boundary_from_content_type

log = logging.getLogger(__name__)

_READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class PullSettings:
    connect_timeout_s: float = 3.0
    # Longest wait for any bytes, and for one part to complete.
    stall_timeout_s: float = 5.0
    max_part_bytes: int = 4 * 1024 * 1024
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0

    def __post_init__(self) -> None:
        if self.connect_timeout_s <= 0 or self.stall_timeout_s <= 0:
            raise ValueError("connect and stall timeouts must be positive")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ValueError("need 0 < backoff_initial_s <= backoff_max_s")


class CameraSink(Protocol):
    """Where a puller delivers: the camera's state object."""

    def frame(self, jpeg: bytes, camera_time_s: float | None) -> None: ...

    def fault(self, kind: str, detail: str) -> None: ...

    def connected(self, connected: bool) -> None: ...


class _Fault(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


class MjpegPuller:
    """Reads `url` into `sink` on its own thread until `stop`."""

    def __init__(
        self,
        url: str,
        sink: CameraSink,
        settings: PullSettings,
        *,
        name: str = "camera",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"camera URL must be http(s)://host[:port]/path, got {url!r}")
        self.url = url
        self.sink = sink
        self.settings = settings
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._delivered = 0  # frames from the current connection
        self._thread = threading.Thread(target=self._run, name=f"pull-{name}", daemon=True)

    def start(self) -> MjpegPuller:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # unblocks a read in progress
        self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- worker -----------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.settings.backoff_initial_s
        while not self._stop.is_set():
            self._delivered = 0
            try:
                self._pull_once()
            except _Fault as fault:
                if not self._stop.is_set():
                    self.sink.fault(fault.kind, str(fault))
            except Exception as error:  # never let one camera's thread die silently
                if not self._stop.is_set():
                    log.exception("camera reader failed", extra={"url": self.url})
                    self.sink.fault("protocol", f"{type(error).__name__}: {error}")
            finally:
                self.sink.connected(False)
            if self._stop.is_set():
                break
            # A connection that delivered frames was a working camera: start over quickly.
            delivered = self._delivered > 0
            backoff = self.settings.backoff_initial_s if delivered else backoff
            self._stop.wait(backoff)
            if not delivered:
                backoff = min(backoff * 2.0, self.settings.backoff_max_s)

    def _pull_once(self) -> None:
        s = self.settings
        parts = urlsplit(self.url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(parts.hostname, parts.port, timeout=s.connect_timeout_s)
        try:
            try:
                connection.connect()
            except OSError as error:
                raise _Fault("refused", f"cannot connect: {error}") from error
            assert connection.sock is not None
            connection.sock.settimeout(s.stall_timeout_s)
            with self._lock:
                self._sock = connection.sock
            if self._stop.is_set():
                return
            headers = {"Accept": "multipart/x-mixed-replace, image/jpeg"}
            if parts.username is not None:  # http://user:password@camera/stream: HTTP Basic
                credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
                headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as error:
                raise _Fault("http", f"no HTTP answer: {error}") from error
            if response.status != 200:
                raise _Fault("http", f"HTTP {response.status} {response.reason}")
            content_type = response.getheader("Content-Type", "")
            if not content_type.lower().startswith("multipart/"):
                raise _Fault("not_mjpeg", f"Content-Type {content_type!r} is not multipart MJPEG")
            self.sink.connected(True)
            parser = MjpegParser(boundary_from_content_type(content_type), max_part_bytes=s.max_part_bytes)
            self._read_parts(response, parser)
        finally:
            with self._lock:
                self._sock = None
            connection.close()

    def _read_parts(self, response: http.client.HTTPResponse, parser: MjpegParser) -> None:
        stall_s = self.settings.stall_timeout_s
        last_part = time.monotonic()
        while not self._stop.is_set():
            try:
                data = response.read1(_READ_CHUNK)
            except TimeoutError as error:
                raise _Fault("stalled", f"no bytes for {stall_s:g}s") from error
            except (OSError, http.client.HTTPException) as error:
                raise _Fault("closed", f"connection lost: {error}") from error
            if not data:
                raise _Fault("closed", "the camera closed the connection")
            try:
                items = parser.feed(data)
            except StreamError as error:
                self._deliver(error.items)
                raise _Fault(error.kind, str(error)) from error
            now = time.monotonic()
            if self._deliver(items):
                last_part = now
            elif now - last_part > stall_s:
                raise _Fault("stalled", f"no complete frame for {stall_s:g}s")

    def _deliver(self, items: list[Part | Skipped]) -> int:
        count = 0
        for item in items:
            if isinstance(item, Part):
                self.sink.frame(item.jpeg, item.timestamp_s)
                count += 1
            else:
                self.sink.fault(item.kind, item.detail)
        self._delivered += count
        return count
