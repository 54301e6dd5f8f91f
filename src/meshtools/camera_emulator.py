"""A network camera on loopback, as an ESP32-CAM would be on the edge Wi-Fi.

It serves a video file, an image folder or scikit-image's sample photographs as MJPEG at
`/stream` (framed exactly as the ESP32-CAM CameraWebServer sketch frames it: its boundary,
`Content-Length` and `X-Timestamp` per part), a single JPEG at `/capture`, and registers
itself with a gateway (`GET /register?ip=<host:port>&token=<token>`), again every
`--register-every-s` so a restarted gateway learns of it.

`--mode` makes it a hostile camera, for tests and demos of what the gateway survives. Each
hostile mode still sends good frames in between, as a flaky camera does:
  garbage   junk bytes between parts, and every third part is not a JPEG
  stall     every connection stops mid-frame after two seconds of frames and goes silent
  huge      after two seconds of frames, a part that declares (and starts sending) 50 MB
  flap      closes the connection every second
  nolength  parts without Content-Length (another field variant, not hostile)

    python -m meshtools.camera_emulator --register http://127.0.0.1:8080 --token-file tokens.txt
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

from liquidedge.imaging import encode_jpeg

log = logging.getLogger(__name__)

ESP32_BOUNDARY = "123456789000000000000987654321"
MODES = ("good", "garbage", "stall", "huge", "flap", "nolength")
HUGE_PART_BYTES = 50 * 1024 * 1024
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def _encode(image_bgr: np.ndarray, width: int, quality: int) -> bytes:
    if image_bgr.shape[1] != width:
        height = round(image_bgr.shape[0] * width / image_bgr.shape[1])
        image_bgr = cv2.resize(image_bgr, (width, height), interpolation=cv2.INTER_AREA)
    return encode_jpeg(image_bgr, quality)


def load_frames(source: str, *, width: int = 640, quality: int = 80, max_frames: int = 300) -> list[bytes]:
    """JPEG frames from `samples[:name,name]`, `people:DIR` (the default gallery's people, as camera
    frames, from the photos `make recognition-models` fetched into DIR), a video file or an image folder."""
    if source.startswith("people:"):
        from meshtools.samples import photo_frames

        people = [
            frame.jpeg for frame in photo_frames(Path(source.split(":", 1)[1]), (width, width * 3 // 4))
        ]
        if not people:
            raise ValueError(
                f"no photos of people in {source.split(':', 1)[1]} (run `make recognition-models`)"
            )
        return people
    if source == "samples" or source.startswith("samples:"):
        from meshtools.samples import SAMPLE_NAMES, sample_image_bgr

        names = tuple(source.split(":", 1)[1].split(",")) if ":" in source else SAMPLE_NAMES
        return [_encode(sample_image_bgr(name), width, quality) for name in names]
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:max_frames]
        images = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in files]
        frames = [_encode(image, width, quality) for image in images if image is not None]
    elif path.is_file():
        capture = cv2.VideoCapture(str(path))
        frames = []
        while len(frames) < max_frames:
            ok, image = capture.read()
            if not ok:
                break
            frames.append(_encode(image, width, quality))
        capture.release()
    else:
        raise ValueError(f"no such video file or image folder: {source}")
    if not frames:
        raise ValueError(f"no frames could be read from {source}")
    return frames


class CameraEmulator:
    """An MJPEG camera server on its own threads (one per viewer, as the ESP32 serves one)."""

    def __init__(
        self,
        frames: Sequence[bytes],
        *,
        fps: float = 5.0,
        mode: str = "good",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not frames or fps <= 0:
            raise ValueError("need at least one frame and a positive fps")
        self.frames = list(frames)
        self.fps = fps
        self.mode = mode
        self.frames_sent = 0
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer((host, port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="camera-emulator", daemon=True)
        self._register_thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> CameraEmulator:
        self._thread.start()
        log.info("camera emulator on http://%s/stream (%s, %g fps)", self.address, self.mode, self.fps)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> CameraEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- registration ---------------------------------------------------------------------------

    def keep_registered(
        self, gateway: str, token: str, *, camera_id: str = "", advertise: str = "", every_s: float = 30.0
    ) -> None:
        """Register now and then every `every_s` seconds on a background thread (logs failures)."""

        def run() -> None:
            while True:
                try:
                    register(gateway, token, advertise or self.address, camera_id)
                except OSError as error:
                    log.warning("registration with %s failed: %s", gateway, error)
                if self._stop.wait(every_s):
                    return

        self._register_thread = threading.Thread(target=run, name="camera-register", daemon=True)
        self._register_thread.start()

    # -- serving --------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: object) -> None:
                log.debug("camera %s", fmt % args)

            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                if path == "/stream":
                    camera._stream(self)
                elif path == "/capture":
                    jpeg = camera.frames[0]
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(jpeg)))
                    self.end_headers()
                    self.wfile.write(jpeg)
                elif path == "/":
                    body = b'<!doctype html><title>camera</title><img src="/stream">'
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_error(404)

        return Handler

    def _part(self, jpeg: bytes, *, length: bool = True) -> bytes:
        now = time.time()
        head = f"\r\n--{ESP32_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
        if length:
            head += f"Content-Length: {len(jpeg)}\r\n"
        head += f"X-Timestamp: {int(now)}.{int((now % 1) * 1e6):06d}\r\n\r\n"
        return head.encode() + jpeg

    def _stream(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={ESP32_BOUNDARY}")
        handler.send_header("Access-Control-Allow-Origin", "*")
        handler.end_headers()
        period = 1.0 / self.fps
        opened = time.monotonic()
        index = 0
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                jpeg = self.frames[index % len(self.frames)]
                elapsed = time.monotonic() - opened
                if self.mode == "flap" and elapsed >= 1.0:
                    return  # closes the connection
                if self.mode in ("stall", "huge") and elapsed >= 2.0:
                    self._misbehave(handler, jpeg)
                    return
                if self.mode == "garbage" and index % 3 == 2:
                    handler.wfile.write(self._part(os.urandom(len(jpeg) // 4)))
                else:
                    handler.wfile.write(self._part(jpeg, length=self.mode != "nolength"))
                    self.frames_sent += 1
                if self.mode == "garbage":
                    handler.wfile.write(os.urandom(2048))
                handler.wfile.flush()
                index += 1
                next_at += period
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the viewer went away

    def _misbehave(self, handler: BaseHTTPRequestHandler, jpeg: bytes) -> None:
        if self.mode == "stall":
            part = self._part(jpeg)
            handler.wfile.write(part[: len(part) // 2])  # half a frame, then silence
            handler.wfile.flush()
            self._stop.wait(3600)
            return
        head = (
            f"\r\n--{ESP32_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {HUGE_PART_BYTES}\r\n\r\n"
        )
        handler.wfile.write(head.encode())
        chunk = b"\xff\xd8" + b"\x00" * (1024 * 1024 - 2)
        for _ in range(HUGE_PART_BYTES // len(chunk)):
            if self._stop.is_set():
                return
            handler.wfile.write(chunk)


def register(gateway: str, token: str, address: str, camera_id: str = "", timeout_s: float = 5.0) -> dict:
    """The ESP32-CAM's announcement: `GET <gateway>/register?ip=<address>&token=<token>`."""
    import json

    params = {"ip": address, "token": token}
    if camera_id:
        params["id"] = camera_id
    url = gateway.rstrip("/") + "/register?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raise OSError(f"HTTP {error.code}: {error.read().decode(errors='replace').strip()}") from error


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="camera-emulator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--source",
        default="samples",
        help="samples[:name,...], people:DIR (photos of the default gallery's people), a video file or an image folder",
    )
    p.add_argument("--fps", type=float, default=5.0, help="frames per second served")
    p.add_argument("--width", type=int, default=640, help="frame width (height keeps the aspect ratio)")
    p.add_argument("--mode", default="good", choices=MODES, help="how the camera behaves")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on")
    p.add_argument("--port", type=int, default=0, help="port to serve on (0 picks a free one)")
    p.add_argument(
        "--register", default="", help="gateway base URL to register with, e.g. http://127.0.0.1:8080"
    )
    p.add_argument("--token", default="", help="camera token (or --token-file)")
    p.add_argument(
        "--token-file",
        default=os.environ.get("CAMERA_TOKENS_FILE", ""),
        help="file whose first token is used",
    )
    p.add_argument(
        "--id", default="", help="camera id to register as (the field cameras send none: the address is used)"
    )
    p.add_argument("--advertise", default="", help="address to register (default: where it serves)")
    p.add_argument("--register-every-s", type=float, default=30.0, help="re-register this often")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s camera-emulator: %(message)s")
    frames = load_frames(args.source, width=args.width)
    camera = CameraEmulator(frames, fps=args.fps, mode=args.mode, host=args.host, port=args.port).start()
    print(f"camera serving http://{camera.address}/stream", flush=True)
    if args.register:
        token = args.token
        if not token and args.token_file:
            from liquidedge.security import read_token

            token = read_token(args.token_file)
        camera.keep_registered(
            args.register, token, camera_id=args.id, advertise=args.advertise, every_s=args.register_every_s
        )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        camera.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
