"""The DJI RoboMaster S1/EP through the bridge: the 3.11 client's side of `robomaster_bridge`.

DJI's SDK only exists for CPython 3.6-3.8, so on the robot a small bridge (the standalone
`robomaster_bridge/bridge.py`) runs under python3.8, owns the robot, and takes newline-delimited
JSON commands on a loopback port or unix socket. This driver speaks that protocol. It never raises from `drive`/`set_led`/`poll_hits` when the bridge
goes away: the bridge's watchdog has already stopped the chassis, so the driver logs the outage,
retries at a bounded rate and carries on when the bridge is back, the way the mesh link does.

With `spawn_python` set (`--spawn-bridge python3.8`) the driver starts the bridge itself as a child
process and stops it on close.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robomaster_bridge import bridge as bridge_script
from robomaster_bridge.bridge import DEFAULT_LISTEN, LED_EFFECTS, parse_listen
from robotclient.drivers.base import Driver
from robotclient.values import Led, Plate, Twist

log = logging.getLogger(__name__)

# The script `--spawn-bridge` runs by path: a plain file inside the installed package.
BRIDGE_SCRIPT = Path(bridge_script.__file__)
# The SDK's armour ids: 1 chassis back, 2 front, 3 left, 4 right, 5 gimbal left, 6 gimbal right.
ARMOR_PLATES = {
    1: Plate.BACK,
    2: Plate.FRONT,
    3: Plate.LEFT,
    4: Plate.RIGHT,
    5: Plate.LEFT,
    6: Plate.RIGHT,
}
MAX_REPLY_BYTES = 1 << 20  # a hits reply is the largest; a megabyte means the peer is not our bridge


@dataclass(frozen=True)
class BridgeSettings:
    """Where the bridge is, how long to wait for it, and (when spawning it) how to start it."""

    address: str = DEFAULT_LISTEN
    timeout_s: float = 0.25  # per command; the control loop cannot wait longer than a frame or two
    retry_s: float = 1.0  # between reconnection attempts while the bridge is unreachable
    spawn_python: str = ""  # interpreter to start the bridge with; empty: connect to a running one
    startup_timeout_s: float = 30.0  # a spawned bridge first connects to the robot, which takes seconds
    conn_type: str = "rndis"
    sn: str = ""
    watchdog_s: float = 0.5


class BridgeError(OSError):
    """The bridge answered with something that is not a reply to our request."""


class BridgeConnection:
    """One socket to the bridge: a JSON line out, the matching JSON line back, within a deadline."""

    def __init__(self, address: str, timeout_s: float) -> None:
        family, target = parse_listen(address, allow_remote=True)
        self.timeout_s = timeout_s
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.settimeout(timeout_s)
        try:
            self._sock.connect(target)
        except OSError:
            self._sock.close()
            raise
        self._buffer = b""
        self._next_id = 0

    def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        self._next_id += 1
        message = {"id": self._next_id, "cmd": cmd, **fields}
        self._sock.sendall(json.dumps(message).encode() + b"\n")
        deadline = time.monotonic() + self.timeout_s
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply to {cmd!r} within {self.timeout_s:.2f} s")
            self._sock.settimeout(remaining)
            chunk = self._sock.recv(4096)
            if not chunk:
                raise BridgeError("the bridge closed the connection")
            self._buffer += chunk
            if len(self._buffer) > MAX_REPLY_BYTES:
                raise BridgeError("reply too long")
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except ValueError as error:
            raise BridgeError(f"unreadable reply: {error}") from error
        if not isinstance(reply, dict) or reply.get("id") != self._next_id:
            # Typically the busy notice of a bridge that already has a client.
            raise BridgeError(f"unexpected reply to {cmd!r}: {line[:200]!r}")
        return reply

    def close(self) -> None:
        self._sock.close()


class BridgeProcess:
    """The bridge as our child (`--spawn-bridge`): its log lines go to our stderr."""

    def __init__(self, settings: BridgeSettings) -> None:
        argv = [
            settings.spawn_python,
            str(BRIDGE_SCRIPT),
            "--listen",
            settings.address,
            "--conn-type",
            settings.conn_type,
            "--watchdog-s",
            str(settings.watchdog_s),
        ]
        if settings.sn:
            argv += ["--sn", settings.sn]
        log.info("starting the RoboMaster bridge: %s", " ".join(argv))
        try:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        except OSError as error:
            raise OSError(
                f"cannot start the RoboMaster bridge with {settings.spawn_python!r}: {error}"
            ) from error

    def exit_code(self) -> int | None:
        return self.popen.poll()

    def stop(self, grace_s: float = 5.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()  # the bridge stops the chassis and closes the SDK on SIGTERM
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                log.warning("the RoboMaster bridge ignored SIGTERM for %.0f s: killing it", grace_s)
                self.popen.kill()
                self.popen.wait(grace_s)
        log.info("RoboMaster bridge exited with %s", self.popen.returncode)


class RoboMasterBridgeDriver(Driver):
    """`Driver` over the bridge's JSON protocol, with outage reporting and bounded reconnection."""

    def __init__(self, settings: BridgeSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: BridgeConnection | None = None
        self._retry_at = 0.0
        self._outage_since: float | None = None
        self._led: Led | None = None
        self._process = BridgeProcess(settings) if settings.spawn_python else None
        try:
            self._conn = self._first_connection()
        except BaseException:
            if self._process is not None:
                self._process.stop()
            raise
        log.info("RoboMaster bridge at %s", settings.address)

    @property
    def in_outage(self) -> bool:
        return self._outage_since is not None

    def _first_connection(self) -> BridgeConnection:
        """Fail fast at start-up: a robot client whose chassis cannot move should say so now."""
        s = self.settings
        deadline = self._clock() + (s.startup_timeout_s if self._process is not None else 0.0)
        while True:
            try:
                conn = BridgeConnection(s.address, max(s.timeout_s, 1.0))
                try:
                    reply = conn.request("ping")
                except OSError:
                    conn.close()
                    raise
                conn.timeout_s = s.timeout_s
                log.info(
                    "bridge answers: python %s, watchdog %s s", reply.get("python"), reply.get("watchdog_s")
                )
                return conn
            except OSError as error:
                code = self._process.exit_code() if self._process is not None else None
                if code is not None:
                    raise OSError(
                        f"the RoboMaster bridge exited with code {code} (see its log above)"
                    ) from error
                if self._clock() >= deadline:
                    raise OSError(
                        f"no RoboMaster bridge answers at {s.address} ({error}); start it on the robot with "
                        f"`python3.8 {BRIDGE_SCRIPT} --listen {s.address}` or pass --spawn-bridge python3.8"
                    ) from error
            time.sleep(0.1)

    def _call(self, cmd: str, **fields: Any) -> dict[str, Any] | None:
        """One request; None while the bridge is unreachable (the caller carries on regardless)."""
        with self._lock:
            now = self._clock()
            if self._conn is None:
                if now < self._retry_at:
                    return None
                try:
                    self._conn = BridgeConnection(self.settings.address, self.settings.timeout_s)
                    self._resume(now)
                except OSError as error:
                    self._lost(now, error)
                    return None
            try:
                reply = self._conn.request(cmd, **fields)
            except OSError as error:
                self._lost(now, error)
                return None
        if not reply.get("ok"):
            log.warning("the bridge refused %s: %s", cmd, reply.get("error"))
        return reply

    def _lost(self, now: float, error: OSError) -> None:
        # Dropping the socket is deliberate: the bridge stops the chassis when its client goes away,
        # and a late reply can never be mistaken for the answer to a newer request.
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._retry_at = now + self.settings.retry_s
        if self._outage_since is None:
            self._outage_since = now
            code = self._process.exit_code() if self._process is not None else None
            exited = f"; the bridge process exited with {code}" if code is not None else ""
            log.warning(
                "RoboMaster bridge at %s unreachable (%s)%s: the chassis is stopped; retrying every %.1f s",
                self.settings.address,
                error,
                exited,
                self.settings.retry_s,
            )

    def _resume(self, now: float) -> None:
        """A fresh connection: report the outage's length and restore the LEDs it may have missed."""
        if self._outage_since is not None:
            log.info("RoboMaster bridge is back after %.1f s", now - self._outage_since)
            self._outage_since = None
        if self._led is not None and self._conn is not None:
            self._conn.request("led", **self._led_fields(self._led))

    @staticmethod
    def _led_fields(led: Led) -> dict[str, Any]:
        r, g, b = led.rgb
        return {
            "r": int(r),
            "g": int(g),
            "b": int(b),
            "effect": led.effect if led.effect in LED_EFFECTS else "on",
        }

    def drive(self, twist: Twist) -> None:
        self._call("drive", x=twist.x_mps, y=twist.y_mps, z=twist.z_dps)

    def stop(self) -> None:
        self._call("stop")

    def set_led(self, led: Led) -> None:
        self._led = led
        self._call("led", **self._led_fields(led))

    def poll_hits(self) -> list[Plate]:
        reply = self._call("hits")
        if not reply or not reply.get("ok"):
            return []
        plates = []
        for hit in reply.get("hits", []):
            plate = ARMOR_PLATES.get(hit.get("armor_id")) if isinstance(hit, dict) else None
            if plate is None:
                log.warning("hit on unknown armour plate: %r", hit)
            else:
                plates.append(plate)
        return plates

    def close(self) -> None:
        """Stop the chassis, end the session, and stop the bridge if we started it."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.request("stop")
                conn.request("close")
            except OSError as error:
                log.warning("could not end the bridge session cleanly: %s", error)
            finally:
                conn.close()
        if self._process is not None:
            self._process.stop()
