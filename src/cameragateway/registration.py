"""Who a camera is and where its stream is: the field cameras' registration call, checked.

Cameras in the field (ESP32-CAM boards) announce themselves with
`GET /register?ip=<address[:port]>&token=<token>` and serve MJPEG at `http://<address>/stream`.
The same rules apply to an operator adding a camera from the dashboard and to the cameras
file read at start, so every way in produces the same (id, url) pair.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from liquidedge.security import known_token

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class RegistrationError(ValueError):
    """A request that names no usable camera; the message says what to fix."""


@dataclass(frozen=True)
class CameraSpec:
    camera_id: str
    url: str


def _check_host(host: str) -> None:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError as error:
            raise RegistrationError(f"{host!r} is not an IPv6 address") from error
        return
    try:
        ipaddress.IPv4Address(host)
        return
    except ValueError:
        pass
    if not _HOSTNAME.match(host) or host.replace(".", "").isdigit():
        raise RegistrationError(f"{host!r} is neither an IP address nor a host name")


def split_address(address: str) -> tuple[str, int | None]:
    """'10.0.0.5', '10.0.0.5:81', 'cam.local:8080', '[fe80::1]:81' -> (host, port or None)."""
    address = address.strip()
    if not address:
        raise RegistrationError("the camera address is empty")
    if address.startswith("["):
        host, _, rest = address.partition("]")
        host += "]"
        port_text = rest[1:] if rest.startswith(":") else ("" if not rest else None)
        if port_text is None:
            raise RegistrationError(f"{address!r}: expected [IPv6]:port")
    elif address.count(":") == 1:
        host, port_text = address.split(":")
    elif ":" in address:
        raise RegistrationError(f"{address!r}: write IPv6 addresses as [address]:port")
    else:
        host, port_text = address, ""
    _check_host(host)
    if port_text == "":
        return host, None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise RegistrationError(f"{address!r}: the port must be 1..65535")
    return host, int(port_text)


def check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise RegistrationError(f"stream URL {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise RegistrationError(f"stream URL {url!r} names no host")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as error:
        raise RegistrationError(f"stream URL {url!r}: {error}") from error
    _check_host(f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname)
    return url.strip()


def id_from_address(address: str) -> str:
    """A readable camera id from an address: '10.0.0.5:81' stays, '[fe80::1]' loses brackets."""
    cleaned = re.sub(r"[^A-Za-z0-9._:@-]", "", address.strip())
    return cleaned.lstrip("._:@-")[:64] or "camera"


def check_id(camera_id: str) -> str:
    if not ID_PATTERN.match(camera_id):
        raise RegistrationError(
            f"camera id {camera_id!r}: 1-64 letters, digits or . _ : @ - , starting with a letter or digit"
        )
    return camera_id


def camera_spec(
    *, camera_id: str = "", ip: str = "", url: str = "", stream_path: str = "/stream"
) -> CameraSpec:
    """(id, url) from an address (`ip`, pulled at `stream_path`) or a full `url`; id defaults from either."""
    if url:
        stream = check_url(url)
        default_id = id_from_address(urlsplit(stream).netloc)
    elif ip:
        host, port = split_address(ip)
        netloc = host if port is None else f"{host}:{port}"
        stream = f"http://{netloc}{stream_path}"
        default_id = id_from_address(netloc)
    else:
        raise RegistrationError("name the camera's address (ip=host[:port]) or its stream (url=http://...)")
    return CameraSpec(check_id(camera_id.strip() or default_id), stream)


def spec_from_query(query: Mapping[str, Sequence[str]], stream_path: str) -> CameraSpec:
    """The ESP32-CAM convention (`ip`), plus optional `id` (or `name`) and a full `url`."""

    def one(name: str) -> str:
        values = query.get(name, [])
        return values[0] if values else ""

    return camera_spec(
        camera_id=one("id") or one("name"), ip=one("ip"), url=one("url"), stream_path=stream_path
    )


class TokenCheck:
    """Constant-time comparison against a set of tokens (no token matches an empty set)."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = tuple(t.encode() for t in tokens)

    def __bool__(self) -> bool:
        return bool(self._tokens)

    def ok(self, token: str) -> bool:
        return known_token(token, self._tokens)


def read_cameras_file(path: str, stream_path: str) -> list[CameraSpec]:
    """`<id> <address-or-url>` per line; blank lines and `#` comments ignored. Errors name the line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise RegistrationError(f"cannot read cameras file {path!r}: {error.strerror}") from error
    specs: list[CameraSpec] = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.split()
        if len(fields) != 2:
            raise RegistrationError(f"{path}:{number}: expected '<id> <address or URL>', got {text!r}")
        camera_id, where = fields
        try:
            if "://" in where:
                specs.append(camera_spec(camera_id=camera_id, url=where))
            else:
                specs.append(camera_spec(camera_id=camera_id, ip=where, stream_path=stream_path))
        except RegistrationError as error:
            raise RegistrationError(f"{path}:{number}: {error}") from error
    ids = [s.camera_id for s in specs]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise RegistrationError(f"{path}: camera ids {repeated} appear more than once")
    return specs
