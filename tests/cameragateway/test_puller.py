"""The puller against real HTTP cameras on loopback (the emulator, good and hostile), no mesh."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from gateway_kit import WAIT_S

from cameragateway.camera import Camera, HealthSettings
from cameragateway.puller import MjpegPuller, PullSettings
from meshtools.camera_emulator import CameraEmulator
from support.ports import free_port
from support.waiting import wait_for

SETTINGS = PullSettings(
    connect_timeout_s=1.0,
    stall_timeout_s=0.8,
    max_part_bytes=512 * 1024,
    backoff_initial_s=0.1,
    backoff_max_s=0.4,
)


def pull(url: str) -> tuple[Camera, MjpegPuller]:
    camera = Camera("cam", url, "test", HealthSettings())
    return camera, MjpegPuller(url, camera, SETTINGS).start()


@pytest.fixture(scope="module")
def cameras(jpegs: list[bytes]) -> Iterator[dict[str, CameraEmulator]]:
    emulators = {
        mode: CameraEmulator(jpegs, fps=10, mode=mode).start()
        for mode in ("good", "nolength", "garbage", "stall", "huge", "flap")
    }
    yield emulators
    for emulator in emulators.values():
        emulator.stop()


# mode -> (fault kinds that must show up, frames that must still arrive, connections at least)
EXPECTED = {
    "good": (set(), 5, 1),
    "nolength": (set(), 5, 1),
    "garbage": ({"garbage"}, 5, 1),
    "stall": ({"stalled"}, 5, 2),
    "huge": ({"oversize"}, 5, 2),
    "flap": ({"closed"}, 5, 3),
}


def test_every_camera_behaviour_is_survived_and_named(cameras: dict[str, CameraEmulator]) -> None:
    pulled = {mode: pull(f"http://{emulator.address}/stream") for mode, emulator in cameras.items()}
    try:
        for mode, (kinds, frames, connects) in EXPECTED.items():
            camera = pulled[mode][0]

            def done(
                camera: Camera = camera, kinds: set = kinds, frames: int = frames, connects: int = connects
            ):
                c = camera.counters
                return kinds <= set(c.faults) and c.received >= frames and c.connects >= connects

            wait_for(done, WAIT_S, f"{mode}: faults {kinds}, {frames} frames, {connects} connections")
        for mode in ("good", "nolength"):
            assert not pulled[mode][0].counters.faults, mode
        assert pulled["good"][0].state()[0] == "online"
        for mode in ("garbage", "stall", "huge", "flap"):
            assert pulled[mode][0].state()[0] == "degraded", (mode, pulled[mode][0].state())
    finally:
        for _camera, puller in pulled.values():
            puller.stop()
    assert not any(puller.alive for _c, puller in pulled.values())


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/nothing-here", "http"),  # 404
        ("/capture", "not_mjpeg"),  # a single JPEG, not a stream
    ],
)
def test_wrong_endpoints_are_named(cameras: dict[str, CameraEmulator], path: str, kind: str) -> None:
    camera, puller = pull(f"http://{cameras['good'].address}{path}")
    try:
        wait_for(lambda: camera.counters.faults[kind] >= 2, WAIT_S, f"{kind} faults, retried")
        assert camera.counters.received == 0
    finally:
        puller.stop()


def test_nothing_listening_is_offline_and_retried_with_backoff() -> None:
    camera, puller = pull(f"http://127.0.0.1:{free_port()}/stream")
    try:
        wait_for(lambda: camera.counters.faults["refused"] >= 3, WAIT_S, "three refused connections")
        assert camera.state()[0] == "offline"
    finally:
        puller.stop()


def test_stop_interrupts_a_stalled_read() -> None:
    """A camera that accepts and then says nothing must not hold the reader's thread on stop."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=f\r\n\r\n--f\r\n")
        held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    slow = PullSettings(connect_timeout_s=1.0, stall_timeout_s=60.0)
    camera = Camera("cam", "u", "test", HealthSettings())
    puller = MjpegPuller(f"http://127.0.0.1:{server.getsockname()[1]}/stream", camera, slow).start()
    try:
        wait_for(lambda: camera.counters.connects == 1, WAIT_S, "the connection")
        puller.stop(timeout_s=10.0)
        assert not puller.alive  # joined: the blocked read was interrupted, not waited out
    finally:
        server.close()
        for conn in held:
            conn.close()


def test_a_camera_written_elsewhere_chunked_and_without_lengths(jpegs: list[bytes]) -> None:
    """Another maker's camera: HTTP/1.1 chunked transfer, `boundary=frame`, no Content-Length, LF ends."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for i in range(40):
                    part = b"--frame\nContent-Type: image/jpeg\n\n" + jpegs[i % len(jpegs)] + b"\n"
                    for at in range(0, len(part), 1000):  # chunks that cut through parts
                        chunk = part[at : at + 1000]
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                    threading.Event().wait(0.05)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    camera, puller = pull(f"http://127.0.0.1:{server.server_address[1]}/stream")
    try:
        wait_for(lambda: camera.counters.received >= 20, WAIT_S, "frames from the chunked camera")
        frame = camera.mailbox.take(1.0)
        assert frame is not None and frame.jpeg in jpegs
        assert not camera.counters.faults.keys() - {"closed"}  # it ends its stream after 40 frames
    finally:
        puller.stop()
        server.shutdown()
        server.server_close()


def test_a_camera_behind_basic_auth(jpegs: list[bytes]) -> None:
    """http://user:password@camera/stream sends HTTP Basic; without it the camera's 401 is named."""
    import base64
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    expected = "Basic " + base64.b64encode(b"viewer:p@ss word").decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != expected:
                self.send_error(401)
                return
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            for i in range(20):
                jpeg = jpegs[i % len(jpegs)]
                self.wfile.write(b"--frame\r\nContent-Length: %d\r\n\r\n" % len(jpeg) + jpeg + b"\r\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    allowed, with_password = pull(f"http://viewer:p%40ss%20word@127.0.0.1:{port}/stream")
    refused, without = pull(f"http://127.0.0.1:{port}/stream")
    try:
        wait_for(lambda: allowed.counters.received >= 5, WAIT_S, "frames with the password")
        wait_for(lambda: refused.counters.faults["http"] >= 1, WAIT_S, "the 401 named")
        assert refused.counters.received == 0
    finally:
        with_password.stop()
        without.stop()
        server.shutdown()
        server.server_close()
