"""An incremental `multipart/x-mixed-replace` parser for camera MJPEG streams.

Bytes go in as the socket hands them over (any split), JPEG parts come out. Cameras in the
field disagree on the details: parts with or without `Content-Length`, boundaries declared
with or without their leading dashes (and sometimes not declared at all), CRLF or bare LF,
bytes of junk between parts. This parser accepts all of those and reports, rather than
hides, what it had to skip. Everything is bounded: a part, its headers and a run of junk are
each capped, so a hostile camera costs at most `max_part_bytes` of memory before it is cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_WHITESPACE = b" \t\r\n"


class StreamError(Exception):
    """The stream cannot go on: the reader closes the connection and reconnects later.

    `items` holds what the same `feed` call completed before the error (deliver them first).
    """

    kind = "protocol"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.items: list[Part | Skipped] = []


class PartTooLarge(StreamError):
    kind = "oversize"


class NoBoundary(StreamError):
    kind = "garbage"


class HeadersTooLarge(StreamError):
    kind = "protocol"


class StreamEnded(StreamError):
    """The closing delimiter (`--boundary--`) arrived: a clean end, but an end."""

    kind = "closed"


@dataclass(frozen=True)
class Part:
    jpeg: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def timestamp_s(self) -> float | None:
        """The camera's capture time from `X-Timestamp: <seconds>.<micros>` (ESP32-CAM), if sent."""
        raw = self.headers.get("x-timestamp", "")
        try:
            value = float(raw)
        except ValueError:
            return None
        return value if value > 0 else None


@dataclass(frozen=True)
class Skipped:
    """Something was dropped without ending the stream: `kind` is garbage or truncated."""

    kind: str
    detail: str
    nbytes: int


def boundary_from_content_type(content_type: str) -> str | None:
    """The `boundary` parameter of a Content-Type header (quotes removed), or None."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip().strip('"')
            return value or None
    return None


class MjpegParser:
    """Feed bytes with `feed`; get back the parts completed so far and what was skipped.

    `boundary` is the Content-Type's parameter; None learns it from the first line of the
    body that starts with `--`. Raises a `StreamError` when the stream cannot continue.
    """

    def __init__(
        self, boundary: str | None, *, max_part_bytes: int = 4 * 1024 * 1024, max_header_bytes: int = 8192
    ) -> None:
        if max_part_bytes < 1024:
            raise ValueError(f"max_part_bytes must be at least 1024, got {max_part_bytes}")
        self.max_part_bytes = max_part_bytes
        self.max_header_bytes = max_header_bytes
        self._token = boundary.lstrip("-").encode("latin-1") if boundary else None
        self._buf = bytearray()
        self._state = "seek"  # seek -> headers -> body -> seek
        self._headers: dict[str, str] = {}
        self._length: int | None = None
        self._scan_from = 0
        self._junk = 0  # bytes skipped while seeking since the last delimiter
        self.parts = 0
        self.garbage_bytes = 0

    # -- public -----------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Part | Skipped]:
        self._buf += data
        out: list[Part | Skipped] = []
        try:
            while self._step(out):
                pass
        except StreamError as error:
            error.items = out
            raise
        return out

    def _step(self, out: list[Part | Skipped]) -> bool:
        if self._state == "seek":
            return self._seek(out)
        if self._state == "headers":
            return self._read_headers()
        return self._read_body(out)

    # -- states -----------------------------------------------------------------------------

    def _find_delimiter(self, start: int) -> tuple[int, int] | None:
        """(start of the delimiter's dashes, end of the boundary token) at or after `start`."""
        buf = self._buf
        if self._token is None:
            match = re.compile(rb"(?:^|\n)(--+)([^\r\n-][^\r\n]{0,69})\r?\n").search(buf, start)
            if match is None:
                return None
            self._token = match.group(2).rstrip(b" \t")
            return match.start(1), match.start(2) + len(self._token)
        token = self._token
        at = start
        while True:
            i = buf.find(token, at)
            if i < 0:
                return None
            dashes = i
            while dashes > start and buf[dashes - 1] == 0x2D:  # '-'
                dashes -= 1
            if i - dashes >= 2:
                return dashes, i + len(token)
            at = i + 1

    def _seek(self, out: list[Part | Skipped]) -> bool:
        found = self._find_delimiter(0)
        if found is None:
            # Keep a tail that might hold the start of a delimiter split across reads.
            keep = 2 + len(self._token) + 2 if self._token else 80
            drop = max(0, len(self._buf) - keep)
            self._skip(drop)
            if self._junk > self.max_part_bytes:
                raise NoBoundary(f"no part boundary in {self._junk} bytes")
            return False
        start, end = found
        # The rest of the delimiter line: '--' closes the stream, else CRLF (or LF) ends it.
        if self._buf[end : end + 2] == b"--":
            raise StreamEnded("the camera closed the multipart stream (--boundary--)")
        line_end = self._buf.find(b"\n", end)
        if line_end < 0:
            if len(self._buf) - end > 256:
                raise StreamError("boundary line too long")
            self._skip(start)
            return False
        self._skip(start)
        if self._junk:
            out.append(Skipped("garbage", f"{self._junk} bytes before a boundary", self._junk))
            self.garbage_bytes += self._junk
            self._junk = 0
        del self._buf[: line_end - start + 1]
        self._state, self._headers, self._length = "headers", {}, None
        return True

    def _skip(self, n: int) -> None:
        """Drop `n` bytes from the front; count the non-whitespace ones as junk."""
        if n <= 0:
            return
        self._junk += len(bytes(self._buf[:n]).translate(None, _WHITESPACE))
        del self._buf[:n]

    def _read_headers(self) -> bool:
        # A part with no headers at all: a blank line straight after the delimiter, or (some
        # cheap cameras) the JPEG itself.
        if self._buf[:2] in (b"\r\n", SOI) or self._buf[:1] == b"\n":
            if self._buf[:2] != SOI:
                del self._buf[: 2 if self._buf[:1] == b"\r" else 1]
            self._state, self._scan_from = "body", 0
            return True
        match = _HEADER_END.search(self._buf)
        if match is None:
            if len(self._buf) > self.max_header_bytes:
                raise HeadersTooLarge(f"part headers longer than {self.max_header_bytes} bytes")
            return False
        if match.start() > self.max_header_bytes:
            raise HeadersTooLarge(f"part headers longer than {self.max_header_bytes} bytes")
        text = bytes(self._buf[: match.start()]).decode("latin-1")
        del self._buf[: match.end()]
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep:
                self._headers[name.strip().lower()] = value.strip()
        raw_length = self._headers.get("content-length")
        if raw_length is not None:
            try:
                self._length = int(raw_length)
            except ValueError:
                self._length = None
            if self._length is not None and self._length < 0:
                self._length = None
            if self._length is not None and self._length > self.max_part_bytes:
                raise PartTooLarge(
                    f"part declares {self._length} bytes, more than the {self.max_part_bytes} allowed"
                )
        self._state, self._scan_from = "body", 0
        return True

    def _read_body(self, out: list[Part | Skipped]) -> bool:
        if self._length is not None:
            return self._read_sized_body(out)
        found = self._find_delimiter(self._scan_from)
        if found is None:
            if len(self._buf) > self.max_part_bytes:
                raise PartTooLarge(f"part longer than {self.max_part_bytes} bytes and still no boundary")
            self._scan_from = max(0, len(self._buf) - (len(self._token or b"") + 4))
            return False
        start, _end = found
        body = bytes(self._buf[:start]).rstrip(_WHITESPACE)
        del self._buf[:start]
        self._finish_part(body, out)
        return True

    def _read_sized_body(self, out: list[Part | Skipped]) -> bool:
        assert self._length is not None
        # A camera that restarts a part before finishing the one it announced: the next
        # delimiter shows up inside the declared length. Drop the short part, keep the next.
        limit = min(len(self._buf), self._length + 2)
        found = self._find_delimiter(self._scan_from) if self._token else None
        if found is not None and found[0] < self._length:
            out.append(Skipped("truncated", f"part cut at {found[0]} of {self._length} bytes", found[0]))
            del self._buf[: found[0]]
            self._state = "seek"
            return True
        if len(self._buf) < self._length:
            self._scan_from = max(0, limit - (len(self._token or b"") + 4))
            return False
        body = bytes(self._buf[: self._length])
        del self._buf[: self._length]
        self._finish_part(body, out)
        return True

    def _finish_part(self, body: bytes, out: list[Part | Skipped]) -> None:
        self._state = "seek"
        if not body.startswith(SOI):
            out.append(Skipped("garbage", "part is not a JPEG (no start-of-image marker)", len(body)))
        elif not body.rstrip(_WHITESPACE).endswith(EOI):
            out.append(Skipped("truncated", "JPEG part without its end-of-image marker", len(body)))
        else:
            self.parts += 1
            out.append(Part(body.rstrip(_WHITESPACE), dict(self._headers)))
