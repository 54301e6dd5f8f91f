"""A small MJPEG-over-HTTP server for live views: `/` (a page), `/stream`, `/frame.jpg`.

Browsers show `multipart/x-mixed-replace` JPEG streams natively, so an operator needs
nothing but a URL. Frames are rendered on demand by `get_jpeg`, so an unwatched view costs
nothing on the frame path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)

_BOUNDARY = "liquidedgeframe"
# Every MJPEG view the mesh serves (live views, the camera gateway's feeds) frames its parts so.
MJPEG_CONTENT_TYPE = f"multipart/x-mixed-replace; boundary={_BOUNDARY}"


def mjpeg_part(jpeg: bytes) -> bytes:
    """One frame of a `MJPEG_CONTENT_TYPE` stream: boundary, part headers, the JPEG."""
    head = f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"


_PAGE = """<!doctype html><html><head><title>{title}</title></head>
<body style="margin:0;background:#111;color:#ddd;font-family:sans-serif">
<p style="margin:6px">{title}</p><img src="/stream" style="max-width:100%"></body></html>"""


class MjpegServer:
    def __init__(
        self,
        host: str,
        port: int,
        get_jpeg: Callable[[], bytes | None],
        *,
        title: str = "LIQUID EDGE live view",
        fps: float = 10.0,
    ) -> None:
        self.get_jpeg = get_jpeg
        self.title = title
        self.period_s = 1.0 / fps
        self._stop = threading.Event()
        try:
            self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        except OSError as error:
            raise OSError(f"could not serve the live view on {host}:{port}: {error.strerror}") from error
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mjpeg", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> MjpegServer:
        self._thread.start()
        log.info("live view on http://%s:%d/", self._httpd.server_address[0], self.port)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: object) -> None:
                log.debug("live view %s", fmt % args)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/":
                    body = _PAGE.format(title=server.title).encode()
                    self._send(200, "text/html; charset=utf-8", body)
                elif path == "/frame.jpg":
                    jpeg = server.get_jpeg()
                    if jpeg is None:
                        self._send(503, "text/plain", b"no frame yet\n")
                    else:
                        self._send(200, "image/jpeg", jpeg)
                elif path == "/stream":
                    self._stream()
                else:
                    self._send(404, "text/plain", b"not found\n")

            def _send(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", MJPEG_CONTENT_TYPE)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                try:
                    while not server._stop.is_set():
                        jpeg = server.get_jpeg()
                        if jpeg is not None:
                            self.wfile.write(mjpeg_part(jpeg))
                            self.wfile.flush()
                        time.sleep(server.period_s)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the viewer closed the tab

        return Handler
