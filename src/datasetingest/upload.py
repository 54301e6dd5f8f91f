"""Reading an upload body to a file, within a byte limit, whatever the client claims.

A declared Content-Length over the limit is refused before a byte is read (and, with
`Expect: 100-continue`, before the client sends any: see the server). A chunked body is
counted as it streams and cut off at the limit. A body shorter than declared is an error,
not a truncated dataset.
"""

from __future__ import annotations

from typing import BinaryIO

from datasetingest.errors import BadRequest, LengthRequired, TooLarge

_CHUNK = 1 << 16


def declared_length(headers: dict[str, str] | object, limit: int) -> int | None:
    """The Content-Length to read (None for chunked), after checking it against `limit`."""
    get = headers.get  # type: ignore[attr-defined]
    if "chunked" in (get("Transfer-Encoding") or "").lower():
        return None
    raw = get("Content-Length")
    if raw is None:
        raise LengthRequired("send the zip with a Content-Length (curl -T does) or chunked encoding")
    try:
        length = int(raw)
    except ValueError:
        raise BadRequest(f"Content-Length {raw!r} is not a number") from None
    if length < 0:
        raise BadRequest(f"Content-Length {length} is negative")
    if length > limit:
        raise TooLarge(f"the upload is {length} bytes; the limit is {limit} bytes")
    return length


def copy_body(stream: BinaryIO, out: BinaryIO, length: int | None, limit: int) -> int:
    """Copy the body (exactly `length` bytes, or chunked when None) to `out`; bytes copied."""
    if length is not None:
        copied = _copy(stream, out, length)
        if copied < length:
            raise BadRequest(f"the upload ended after {copied} of {length} bytes")
        return length
    return _copy_chunked(stream, out, limit)


def _copy(stream: BinaryIO, out: BinaryIO, count: int) -> int:
    """Copy `count` bytes, or fewer if the stream ends first; bytes copied."""
    left = count
    while left:
        chunk = stream.read(min(_CHUNK, left))
        if not chunk:
            break
        out.write(chunk)
        left -= len(chunk)
    return count - left


def _copy_chunked(stream: BinaryIO, out: BinaryIO, limit: int) -> int:
    total = 0
    while True:
        line = stream.readline(1024)
        if not line.endswith(b"\n"):
            raise BadRequest("malformed chunked encoding (chunk size line)")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequest("malformed chunked encoding (chunk size is not hex)") from None
        if size == 0:
            while stream.readline(1024).strip():  # trailer headers, then the final CRLF
                pass
            return total
        total += size
        if total > limit:
            raise TooLarge(f"the upload passed the limit of {limit} bytes")
        if _copy(stream, out, size) < size:
            raise BadRequest("the upload ended inside a chunk")
        if stream.read(2) != b"\r\n":
            raise BadRequest("malformed chunked encoding (no CRLF after a chunk)")
