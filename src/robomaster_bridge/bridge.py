"""A standalone bridge that owns a DJI RoboMaster and takes chassis commands over a local socket.

Why it exists: DJI's `robomaster` SDK ships wheels for CPython 3.6-3.8 only, while the robot client
runs on Python 3.11. This file runs under the SDK's interpreter (python3.8 on the Raspberry Pi),
connects to the robot, and serves newline-delimited JSON on a loopback TCP port or a unix socket;
`robotclient.drivers.bridge.RoboMasterBridgeDriver` is the 3.11 side.

It is deliberately one self-contained file that imports only the standard library (and the SDK)
and keeps to Python 3.6 syntax, so it runs by path, from the installed package or copied to any
machine that has the SDK:

    python3.8 bridge.py --listen 127.0.0.1:40923 --conn-type rndis

Protocol: one JSON object per line, each request may carry an "id" that the reply echoes.

    {"id": 1, "cmd": "drive", "x": 0.2, "y": 0.0, "z": -30}   x forward, y right (m/s), z (deg/s)
    {"id": 2, "cmd": "stop"}
    {"id": 3, "cmd": "led", "r": 0, "g": 255, "b": 0, "effect": "flash"}
    {"id": 4, "cmd": "hits"}   -> {"id": 4, "ok": true, "hits": [{"armor_id": 2, "hit_type": "ir"}]}
    {"id": 5, "cmd": "ping"}   -> {"id": 5, "ok": true, "watchdog_s": 0.5, ...}
    {"id": 6, "cmd": "close"}  stops the chassis and ends this client's session

Every reply has "ok"; a failed one has "error" with a message. Safety: the chassis only keeps
moving on a drive command younger than --watchdog-s (the bridge's watchdog thread stops it, and
the SDK's own drive timeout is armed with the same value as a second layer), and a client that
disconnects, or sends a drive command the bridge cannot read, stops it at once.
"""

import argparse
import collections
import json
import logging
import math
import os
import signal
import socket
import stat
import sys
import threading
import time

log = logging.getLogger("robomaster_bridge")

SDK_MISSING = "the RoboMaster SDK is not installed for this Python: pip install robomaster (CPython 3.6-3.8)"
DEFAULT_LISTEN = "127.0.0.1:40923"
MAX_LINE_BYTES = 64 * 1024  # a command is a few dozen bytes; anything this long is not ours
MAX_PENDING_HITS = 256  # hits nobody polls for are dropped oldest first rather than kept forever
# The SDK's documented ranges for chassis.drive_speed; the bridge clamps rather than trusting them.
SPEED_LIMITS = {"x": 3.5, "y": 3.5, "z": 600.0}
LED_EFFECTS = ("on", "off", "flash", "breath", "scrolling", "pulse")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class CommandError(Exception):
    """A request the bridge refuses; the message goes back to the client in the reply."""


def load_sdk():
    """Import the SDK only now, so `--help` and the error message work without it."""
    try:
        from robomaster import led as sdk_led
        from robomaster import robot as sdk_robot
    except ImportError as error:
        raise SystemExit(f"{SDK_MISSING} ({error})") from None
    return sdk_robot, sdk_led


class Chassis:
    """The robot as the bridge sees it: SDK calls behind a lock, hits queued from the SDK's thread."""

    def __init__(self, sdk_robot, sdk_led, conn_type, sn=None, command_timeout_s=0.5):
        self._sdk_led = sdk_led
        self._command_timeout_s = command_timeout_s
        self._lock = threading.Lock()
        self._hits = collections.deque(maxlen=MAX_PENDING_HITS)
        self._hits_lock = threading.Lock()
        self.moving = False
        self.last_drive_s = time.monotonic()
        self._robot = sdk_robot.Robot()
        kwargs = {"conn_type": conn_type}
        if sn:
            kwargs["sn"] = sn
        try:
            # initialize() reports a robot it cannot find by returning False, not by raising.
            if self._robot.initialize(**kwargs) is False:
                raise RuntimeError(f"no RoboMaster answered over {conn_type}")
            # Chassis-lead: the gimbal turns with the chassis, so the robot faces what it follows.
            if self._robot.set_robot_mode(mode=sdk_robot.CHASSIS_LEAD) is False:
                log.warning("the robot refused chassis-lead mode; carrying on in its current mode")
            self._robot.armor.sub_hit_event(self._on_hit)
        except Exception:
            self._robot.close()
            raise
        log.info("RoboMaster connected over %s", conn_type)

    def _on_hit(self, info, *args, **kwargs):
        """SDK callback (its own thread): `info` is (armor_id, hit_type)."""
        if isinstance(info, (tuple, list)):
            armor_id, hit_type = info[0], (info[1] if len(info) > 1 else "")
        else:
            armor_id, hit_type = info, ""
        with self._hits_lock:
            self._hits.append({"armor_id": int(armor_id), "hit_type": str(hit_type), "t": time.time()})
        log.info("armour hit on plate %s (%s)", armor_id, hit_type)

    def drive(self, x, y, z):
        with self._lock:
            self._robot.chassis.drive_speed(x=x, y=y, z=z, timeout=self._command_timeout_s)
            self.moving = not (x == 0.0 and y == 0.0 and z == 0.0)
            self.last_drive_s = time.monotonic()

    def stop(self, reason):
        with self._lock:
            was_moving = self.moving
            self._robot.chassis.drive_speed(x=0.0, y=0.0, z=0.0, timeout=self._command_timeout_s)
            self.moving = False
        if was_moving:
            log.warning("chassis stopped: %s", reason)
        else:
            log.debug("chassis stop (%s)", reason)

    def set_led(self, r, g, b, effect, comp="all"):
        # The SDK compares effects with `is`, so pass its own constant object, not our equal string.
        sdk_effect = getattr(self._sdk_led, "EFFECT_" + effect.upper(), None)
        if sdk_effect is None:
            raise CommandError(f"this SDK has no LED effect {effect!r}")
        with self._lock:
            done = self._robot.led.set_led(comp=comp, r=r, g=g, b=b, effect=sdk_effect)
        if done is False:  # the SDK's way of saying no (an unknown component, no acknowledgement)
            raise CommandError(f"the robot did not take the LED command (comp {comp!r})")

    def take_hits(self):
        with self._hits_lock:
            hits = list(self._hits)
            self._hits.clear()
        return hits

    def close(self):
        try:
            self.stop("bridge shutting down")
            self._robot.armor.unsub_hit_event()
        finally:
            self._robot.close()
        log.info("RoboMaster connection closed")


class Watchdog(threading.Thread):
    """Stops a moving chassis whose last drive command is older than `timeout_s`.

    The client sends a drive command every frame; silence means it died, hung or lost its way,
    and a robot must never keep driving on a stale command.
    """

    def __init__(self, chassis, timeout_s):
        threading.Thread.__init__(self, name="watchdog", daemon=True)
        self.chassis = chassis
        self.timeout_s = timeout_s
        self.stopping = threading.Event()

    def run(self):
        period_s = max(0.01, self.timeout_s / 5.0)
        while not self.stopping.wait(period_s):
            idle_s = time.monotonic() - self.chassis.last_drive_s
            if self.chassis.moving and idle_s > self.timeout_s:
                try:
                    self.chassis.stop(f"watchdog: no drive command for {idle_s:.2f} s")
                except Exception:
                    log.exception("watchdog could not stop the chassis")


def _number(request, key, limit):
    value = request.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CommandError(f"{key} must be a finite number, got {value!r}")
    return max(-limit, min(limit, float(value)))


def _channel(request, key):
    value = request.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise CommandError(f"{key} must be an integer 0-255, got {value!r}")
    return value


class Session:
    """One client connection: read lines, answer each, stop the chassis when it goes away."""

    def __init__(self, conn, peer, chassis, watchdog_s, on_end):
        self.conn = conn
        self.peer = peer
        self.chassis = chassis
        self.watchdog_s = watchdog_s
        self.on_end = on_end
        self.closing = False

    def run(self, stopping):
        log.info("client connected: %s", self.peer)
        buffer = b""
        self.conn.settimeout(0.2)  # wake up to notice a bridge shutdown
        try:
            while not stopping.is_set() and not self.closing:
                try:
                    chunk = self.conn.recv(4096)
                except socket.timeout:  # noqa: UP041 - not TimeoutError before 3.10
                    continue
                if not chunk:
                    break
                buffer += chunk
                while b"\n" in buffer and not self.closing:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        self._send(self.handle_line(line))
                if len(buffer) > MAX_LINE_BYTES:
                    self._send({"ok": False, "error": f"line longer than {MAX_LINE_BYTES} bytes"})
                    break
        except OSError as error:
            log.warning("client %s: %s", self.peer, error)
        finally:
            try:
                self.chassis.stop(f"client {self.peer} disconnected")
            except Exception:
                log.exception("could not stop the chassis after the client left")
            self.conn.close()
            log.info("client gone: %s", self.peer)
            self.on_end()

    def _send(self, reply):
        self.conn.sendall((json.dumps(reply) + "\n").encode("utf-8"))

    def handle_line(self, line):
        try:
            request = json.loads(line.decode("utf-8"))
        except ValueError as error:
            log.warning("malformed request from %s: %s", self.peer, error)
            return {"id": None, "ok": False, "error": f"malformed JSON: {error}"}
        if not isinstance(request, dict):
            return {"id": None, "ok": False, "error": "a request is a JSON object"}
        reply = {"id": request.get("id")}
        try:
            reply.update(self.dispatch(request))
            reply["ok"] = True
        except CommandError as error:
            reply.update(ok=False, error=str(error))
        except Exception as error:  # the SDK raised: tell the client, keep serving
            log.exception("command %r failed", request.get("cmd"))
            reply.update(ok=False, error=f"{type(error).__name__}: {error}")
        return reply

    def dispatch(self, request):
        cmd = request.get("cmd")
        if cmd == "drive":
            try:
                x = _number(request, "x", SPEED_LIMITS["x"])
                y = _number(request, "y", SPEED_LIMITS["y"])
                z = _number(request, "z", SPEED_LIMITS["z"])
            except CommandError:
                # A drive command we cannot read must not leave the previous one running.
                self.chassis.stop("unreadable drive command")
                raise
            self.chassis.drive(x, y, z)
            return {}
        if cmd == "stop":
            self.chassis.stop("client asked")
            return {}
        if cmd == "led":
            effect = request.get("effect", "on")
            if effect not in LED_EFFECTS:
                raise CommandError(
                    "effect must be one of {}, got {!r}".format(", ".join(LED_EFFECTS), effect)
                )
            rgb = [_channel(request, key) for key in ("r", "g", "b")]
            self.chassis.set_led(rgb[0], rgb[1], rgb[2], effect, comp=str(request.get("comp", "all")))
            return {}
        if cmd == "hits":
            return {"hits": self.chassis.take_hits()}
        if cmd == "ping":
            return {"watchdog_s": self.watchdog_s, "python": "{}.{}.{}".format(*sys.version_info[:3])}
        if cmd == "close":
            self.chassis.stop("client closed its session")
            self.closing = True
            return {}
        raise CommandError(f"unknown cmd {cmd!r}; expected drive, stop, led, hits, ping or close")


def parse_listen(text, allow_remote=False):
    """`host:port` (IPv6 as `[::1]:port`) or a unix socket path (`unix:/path` or anything with a /)."""
    if text.startswith("unix:"):
        return socket.AF_UNIX, text[len("unix:") :]
    if "/" in text:
        return socket.AF_UNIX, text
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen wants host:port or a unix socket path, got {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    if host not in LOOPBACK_HOSTS and not host.startswith("127.") and not allow_remote:
        raise ValueError(
            f"refusing to listen on {host!r}: whoever reaches it drives the robot; "
            "use loopback or a unix socket, or pass --allow-remote"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, (host, int(port))


def open_listener(family, address):
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_UNIX:
        # A socket file left by a bridge that died would make bind fail; remove only a socket.
        if os.path.exists(address) and stat.S_ISSOCK(os.stat(address).st_mode):
            os.unlink(address)
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(4)
    sock.settimeout(0.2)  # accept() wakes up to notice a shutdown
    return sock


def describe(sock):
    name = sock.getsockname()
    if isinstance(name, tuple):
        return f"{name[0]}:{name[1]}"
    return f"unix:{name}"


def serve(listener, chassis, watchdog_s, stopping):
    """Accept clients one at a time: the robot has one driver, a second client is told so.

    Returns the session threads so the caller can let them stop the chassis before it closes the SDK.
    """
    state = {"session": None}
    threads = []
    lock = threading.Lock()

    def ended():
        with lock:
            state["session"] = None

    while not stopping.is_set():
        try:
            conn, peer = listener.accept()
        except socket.timeout:  # noqa: UP041 - not TimeoutError before 3.10
            continue
        except OSError as error:
            if stopping.is_set():
                break
            log.warning("accept failed: %s", error)
            time.sleep(0.1)
            continue
        peer = peer or "unix client"
        with lock:
            busy = state["session"] is not None
            if not busy:
                state["session"] = Session(conn, peer, chassis, watchdog_s, ended)
                session = state["session"]
        if busy:
            log.warning("refusing %s: another client drives the robot", peer)
            try:
                conn.sendall(b'{"ok": false, "error": "bridge busy: another client drives the robot"}\n')
            finally:
                conn.close()
            continue
        thread = threading.Thread(target=session.run, args=(stopping,), name="session", daemon=True)
        thread.start()
        threads = [t for t in threads if t.is_alive()] + [thread]
    return threads


def build_parser():
    p = argparse.ArgumentParser(
        description="Own a DJI RoboMaster through its Python SDK and take chassis commands as "
        "newline-delimited JSON on a local socket (for the Python 3.11 robot client)."
    )
    p.add_argument("--listen", default=DEFAULT_LISTEN, help="host:port on loopback, or a unix socket path")
    p.add_argument("--conn-type", default="rndis", choices=["rndis", "ap", "sta"], help="SDK connection type")
    p.add_argument("--sn", default="", help="robot serial number (sta mode)")
    p.add_argument(
        "--watchdog-s",
        type=float,
        default=0.5,
        help="stop the chassis after this long without a drive command",
    )
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --listen address")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.watchdog_s > 0:
        raise SystemExit("--watchdog-s must be positive")
    try:
        family, address = parse_listen(args.listen, args.allow_remote)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    sdk_robot, sdk_led = load_sdk()
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    chassis = Chassis(sdk_robot, sdk_led, args.conn_type, args.sn or None, command_timeout_s=args.watchdog_s)
    watchdog = Watchdog(chassis, args.watchdog_s)
    watchdog.start()
    try:
        listener = open_listener(family, address)
        try:
            log.info("bridge listening on %s (watchdog %.2f s)", describe(listener), args.watchdog_s)
            for thread in serve(listener, chassis, args.watchdog_s, stopping):
                thread.join(2.0)  # a session notices `stopping` within 0.2 s
        finally:
            listener.close()
            if family == socket.AF_UNIX and os.path.exists(address):
                os.unlink(address)
    finally:
        watchdog.stopping.set()
        chassis.close()
    log.info("bridge stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
