"""Registration rules: addresses, URLs, ids, tokens and the cameras file, as tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from cameragateway.registration import (
    CameraSpec,
    RegistrationError,
    TokenCheck,
    camera_spec,
    read_cameras_file,
    spec_from_query,
    split_address,
)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.5", ("10.0.0.5", None)),
        ("10.0.0.5:81", ("10.0.0.5", 81)),
        ("cam-3.local:8080", ("cam-3.local", 8080)),
        ("[fe80::1]:81", ("[fe80::1]", 81)),
        ("[::1]", ("[::1]", None)),
        (" 192.168.4.1 ", ("192.168.4.1", None)),  # firmware that pads
    ],
)
def test_split_address(address: str, expected: tuple[str, int | None]) -> None:
    assert split_address(address) == expected


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("", "empty"),
        ("10.0.0.5:0", "port must be 1..65535"),
        ("10.0.0.5:99999", "port must be 1..65535"),
        ("10.0.0.5:http", "port must be 1..65535"),
        ("fe80::1", "write IPv6 addresses as [address]:port"),
        ("[not-v6]:81", "is not an IPv6 address"),
        ("999.1.1.1", "neither an IP address nor a host name"),
        ("cam/../../etc", "neither an IP address nor a host name"),
        ("host name", "neither an IP address nor a host name"),
        ("a@b", "neither an IP address nor a host name"),
    ],
)
def test_bad_addresses_are_refused_with_a_reason(address: str, words: str) -> None:
    with pytest.raises(RegistrationError, match=words.replace("[", r"\[").replace("]", r"\]")):
        split_address(address)


@pytest.mark.parametrize(
    ("query", "path", "expected"),
    [
        # The ESP32-CAM convention: ip (+ token, checked elsewhere), stream at /stream.
        ({"ip": ["10.0.0.5"], "token": ["t"]}, "/stream", CameraSpec("10.0.0.5", "http://10.0.0.5/stream")),
        ({"ip": ["10.0.0.5:81"]}, "/stream", CameraSpec("10.0.0.5:81", "http://10.0.0.5:81/stream")),
        # The operator configured another path.
        ({"ip": ["10.0.0.5"]}, "/mjpeg/1", CameraSpec("10.0.0.5", "http://10.0.0.5/mjpeg/1")),
        # An explicit id, and `name` as its synonym.
        (
            {"ip": ["10.0.0.5"], "id": ["gate-north"]},
            "/stream",
            CameraSpec("gate-north", "http://10.0.0.5/stream"),
        ),
        ({"ip": ["10.0.0.5"], "name": ["dock"]}, "/stream", CameraSpec("dock", "http://10.0.0.5/stream")),
        # A full URL wins over the path convention.
        (
            {"url": ["http://10.0.0.9:8081/video?fps=5"], "id": ["line-2"]},
            "/stream",
            CameraSpec("line-2", "http://10.0.0.9:8081/video?fps=5"),
        ),
        (
            {"url": ["https://cam.example:8443/mjpg"]},
            "/stream",
            CameraSpec("cam.example:8443", "https://cam.example:8443/mjpg"),
        ),
        ({"ip": ["[fe80::1]:81"]}, "/stream", CameraSpec("fe80::1:81", "http://[fe80::1]:81/stream")),
    ],
)
def test_spec_from_query(query: dict, path: str, expected: CameraSpec) -> None:
    assert spec_from_query(query, path) == expected


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({}, "name the camera's address"),
        ({"url": "ftp://10.0.0.5/stream"}, "must start with http"),
        ({"url": "file:///etc/passwd"}, "must start with http"),
        ({"url": "http:///stream"}, "names no host"),
        ({"url": "http://10.0.0.5:70000/stream"}, "Port out of range"),
        ({"ip": "10.0.0.5", "camera_id": "../../x"}, "camera id"),
        ({"ip": "10.0.0.5", "camera_id": "x" * 65}, "camera id"),
        ({"ip": "10.0.0.5", "camera_id": "<script>"}, "camera id"),
    ],
)
def test_camera_spec_refusals(kwargs: dict, words: str) -> None:
    with pytest.raises(RegistrationError, match=words):
        camera_spec(**kwargs)


def test_token_check() -> None:
    check = TokenCheck({"alpha", "beta"})
    assert check.ok("alpha") and check.ok("beta")
    assert not check.ok("") and not check.ok("alph") and not check.ok("alpha ") and not check.ok("gamma")
    assert not TokenCheck(()) and not TokenCheck(()).ok("")


def test_cameras_file(tmp_path: Path) -> None:
    path = tmp_path / "cameras.txt"
    path.write_text(
        "# id   address or URL\n"
        "gate   10.0.0.21\n"
        "dock   10.0.0.22:81   # a camera on another port\n"
        "\n"
        "line-2 http://10.0.0.30:8081/video\n"
    )
    assert read_cameras_file(str(path), "/stream") == [
        CameraSpec("gate", "http://10.0.0.21/stream"),
        CameraSpec("dock", "http://10.0.0.22:81/stream"),
        CameraSpec("line-2", "http://10.0.0.30:8081/video"),
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("gate\n", "cameras.txt:1: expected '<id> <address or URL>'"),
        ("gate 10.0.0.1\ngate 10.0.0.2\n", "appear more than once"),
        ("ok 10.0.0.1\nbad 10.0.0.1:0\n", "cameras.txt:2: .*port"),
    ],
)
def test_cameras_file_errors_name_the_line(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "cameras.txt"
    path.write_text(text)
    with pytest.raises(RegistrationError, match=words):
        read_cameras_file(str(path), "/stream")


def test_missing_cameras_file() -> None:
    with pytest.raises(RegistrationError, match="cannot read cameras file"):
        read_cameras_file("/nonexistent/cameras.txt", "/stream")
