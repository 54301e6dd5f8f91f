"""The MJPEG parser against a table of byte streams, each fed whole, byte by byte and in odd splits."""

from __future__ import annotations

import pytest

from cameragateway.mjpeg_parser import (
    HeadersTooLarge,
    MjpegParser,
    NoBoundary,
    Part,
    PartTooLarge,
    Skipped,
    StreamEnded,
    StreamError,
    boundary_from_content_type,
)

# Small stand-ins for JPEGs: the parser checks the start and end markers, not the pixels.
A = b"\xff\xd8" + b"A" * 300 + b"\xff\xd9"
B = b"\xff\xd8" + bytes(range(256)) * 2 + b"\xff\xd9"  # every byte value, CR and LF included
C = b"\xff\xd8" + b"\r\n\r\n--not-our-boundary\r\n" + b"C" * 50 + b"\xff\xd9"
ESP32_BOUNDARY = "123456789000000000000987654321"


def part(
    jpeg: bytes, boundary: str = "frame", *, length: bool = True, extra: str = "", nl: str = "\r\n"
) -> bytes:
    head = f"--{boundary}{nl}Content-Type: image/jpeg{nl}"
    if length:
        head += f"Content-Length: {len(jpeg)}{nl}"
    return (head + extra + nl).encode() + jpeg + nl.encode()


def esp32_part(jpeg: bytes, ts: str = "12.000345") -> bytes:
    # The ESP32-CAM CameraWebServer sketch: CRLF, delimiter, headers with X-Timestamp.
    return (
        f"\r\n--{ESP32_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
        f"X-Timestamp: {ts}\r\n\r\n"
    ).encode() + jpeg


# (case id, declared boundary, stream, expected jpegs, expected skipped kinds, expected error)
CASES = [
    ("with content-length", "frame", part(A) + part(B) + part(C), [A, B, C], [], None),
    (
        "without content-length",
        "frame",
        part(A, length=False) + part(B, length=False) + b"--frame\r\n",
        [A, B],
        [],
        None,
    ),
    (
        "esp32 camera web server",
        ESP32_BOUNDARY,
        esp32_part(A) + esp32_part(B) + esp32_part(C),
        [A, B, C],
        [],
        None,
    ),
    (
        "boundary declared with its dashes",
        "--myboundary",
        part(A, "myboundary") + part(B, "myboundary"),
        [A, B],
        [],
        None,
    ),
    ("boundary sent with extra dashes", "frame", part(A, "--frame") + part(B, "--frame"), [A, B], [], None),
    (
        "boundary not declared",
        None,
        part(A, "xyz") + part(B, "xyz", length=False) + b"--xyz\r\n",
        [A, B],
        [],
        None,
    ),
    (
        "bare LF line ends",
        "frame",
        part(A, nl="\n") + part(B, nl="\n", length=False) + b"--frame\n",
        [A, B],
        [],
        None,
    ),
    ("garbage before the first part", "frame", b"hello junk\x00\x01" * 20 + part(A), [A], ["garbage"], None),
    ("garbage between parts", "frame", part(A) + b"@@@@ noise @@@@" + part(B), [A, B], ["garbage"], None),
    (
        "whitespace between parts is not garbage",
        "frame",
        part(A) + b"\r\n\r\n  \r\n" + part(B),
        [A, B],
        [],
        None,
    ),
    ("a part that is not a JPEG", "frame", part(b"<html>oops</html>") + part(A), [A], ["garbage"], None),
    (
        "truncated part (no EOI), no length",
        "frame",
        part(A[:150], length=False) + part(B),
        [B],
        ["truncated"],
        None,
    ),
    (
        "truncated part: next boundary inside the declared length",
        "frame",
        b"--frame\r\nContent-Length: 5000\r\n\r\n" + A[:100] + b"\r\n" + part(B),
        [B],
        ["truncated"],
        None,
    ),
    ("part without headers", "frame", b"--frame\r\n\r\n" + A + b"\r\n" + part(B), [A, B], [], None),
    ("JPEG straight after the delimiter", "frame", b"--frame\r\n" + A + b"\r\n" + part(B), [A, B], [], None),
    (
        "X-Timestamp and other headers kept",
        "frame",
        part(A, extra="X-Timestamp: 1700000000.250000\r\n"),
        [A],
        [],
        None,
    ),
    (
        "closing delimiter ends the stream",
        "frame",
        part(A) + b"--frame--\r\n" + part(B),
        [A],
        [],
        StreamEnded,
    ),
    (
        "huge declared part refused before its body",
        "frame",
        b"--frame\r\nContent-Length: 52428800\r\n\r\n" + A,
        [],
        [],
        PartTooLarge,
    ),
    ("huge part without length", "frame", b"--frame\r\n\r\n\xff\xd8" + b"x" * 9000, [], [], PartTooLarge),
    ("only garbage, never a boundary", "frame", b"\x00garbage" * 2000, [], [], NoBoundary),
    ("endless headers", "frame", b"--frame\r\n" + b"X-Pad: " + b"p" * 9000, [], [], HeadersTooLarge),
]

MAX_PART = 8192


def run(
    boundary: str | None, stream: bytes, chunks: list[int]
) -> tuple[list[Part], list[Skipped], Exception | None]:
    parser = MjpegParser(boundary, max_part_bytes=MAX_PART, max_header_bytes=4096)
    parts: list[Part] = []
    skipped: list[Skipped] = []
    at = 0
    sizes = iter(chunks)
    try:
        while at < len(stream):
            size = next(sizes, len(stream))
            for item in parser.feed(stream[at : at + size]):
                (parts if isinstance(item, Part) else skipped).append(item)
            at += size
    except StreamError as error:
        for item in error.items:
            (parts if isinstance(item, Part) else skipped).append(item)
        return parts, skipped, error
    return parts, skipped, None


SPLITS = {
    "whole": [],
    "byte by byte": [1] * 100_000,
    "odd splits": [7, 1, 13, 2, 300, 5, 64, 3] * 5000,
}


@pytest.mark.parametrize("split", list(SPLITS))
@pytest.mark.parametrize(
    ("boundary", "stream", "jpegs", "skipped", "error"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_stream(boundary, stream, jpegs, skipped, error, split) -> None:
    parts, skips, raised = run(boundary, stream, SPLITS[split])
    assert [p.jpeg for p in parts] == jpegs
    # A byte-at-a-time feed may report one run of junk in several pieces; the kinds must agree.
    assert sorted(set(s.kind for s in skips)) == sorted(set(skipped))
    if error is None:
        assert raised is None
    else:
        assert isinstance(raised, error)


def test_garbage_is_counted_in_bytes() -> None:
    noise = b"@@ some noise @@"
    _parts, skips, _ = run("frame", part(A) + noise + part(B), [])
    assert sum(s.nbytes for s in skips if s.kind == "garbage") == len(noise.replace(b" ", b""))


def test_headers_and_camera_timestamp() -> None:
    parts, _, _ = run(ESP32_BOUNDARY, esp32_part(A, "1700000000.250000") + esp32_part(B), [])
    assert parts[0].headers["content-type"] == "image/jpeg"
    assert parts[0].timestamp_s == pytest.approx(1700000000.25)
    assert Part(A, {}).timestamp_s is None
    assert Part(A, {"x-timestamp": "soon"}).timestamp_s is None


def test_part_size_bound_is_held_while_reading() -> None:
    """A 50 MB part is refused once the bound is passed, having buffered little more than it."""
    parser = MjpegParser("frame", max_part_bytes=64 * 1024)
    parser.feed(b"--frame\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8")
    chunk = b"\x00" * 16384
    with pytest.raises(PartTooLarge):
        for _ in range(50 * 1024 * 1024 // len(chunk)):
            parser.feed(chunk)
    assert len(parser._buf) <= 64 * 1024 + len(chunk)


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        (
            "multipart/x-mixed-replace;boundary=123456789000000000000987654321",
            "123456789000000000000987654321",
        ),
        ('multipart/x-mixed-replace; boundary="frame"', "frame"),
        ("multipart/x-mixed-replace; charset=x; Boundary=--b", "--b"),
        ("multipart/x-mixed-replace", None),
        ("multipart/x-mixed-replace; boundary=", None),
    ],
)
def test_boundary_from_content_type(content_type: str, boundary: str | None) -> None:
    assert boundary_from_content_type(content_type) == boundary
