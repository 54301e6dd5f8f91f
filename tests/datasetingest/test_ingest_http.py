"""The ingest endpoint over real HTTP: good uploads stored and announced, hostile ones refused."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from ingestkit import (
    Ingest,
    build_zip,
    good,
    jpeg,
    labelled,
    mark_encrypted,
    png,
    png_declaring,
    random_bytes,
    start_ingest,
    symlink,
)

from modelstore import fetch_verified
from modelstore.events import DatasetPublished
from modeltrainer.sample_dataset import sample_zip_bytes

MIB = 1024 * 1024


def send(
    ingest: Ingest,
    body: bytes,
    *,
    path: str = "/zip?edgeId=edge1",
    method: str = "PUT",
    headers: dict | None = None,
) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", ingest.handle.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def assert_nothing_left(ingest: Ingest) -> None:
    assert ingest.leftovers() == []
    assert ingest.triggers() == []
    assert ingest.store.names("dataset") == []


def corrupt_member_data(archive: bytes) -> bytes:
    data = bytearray(archive)
    data[len(data) // 3] ^= 0xFF  # inside some member's compressed data: its CRC no longer matches
    return bytes(data)


HOSTILE: list[tuple[str, Callable[[], bytes], int, str]] = [
    # id, body, HTTP status, what the error says
    ("zip bomb", lambda: build_zip([("cat/bomb.jpg", bytes(8 * MIB)), *good()]), 413, r"expands \d+:1 \(over 50:1\): refused as a zip bomb"),
    ("too much uncompressed", lambda: build_zip([(f"cat/{i}.jpg", random_bytes(MIB)) for i in range(5)], zipfile.ZIP_STORED), 413, r"expands to \d+ bytes; the limit is 4194304 bytes uncompressed"),
    ("too many entries", lambda: build_zip([(f"cat/{i}.jpg", b"x") for i in range(300)]), 413, r"has 300 entries; the limit is 200"),
    ("dot-dot path", lambda: build_zip([*good(), ("cat/../../evil.jpg", jpeg())]), 422, r"'\.\.' in a path \(path traversal\)"),
    ("absolute path", lambda: build_zip([*good(), ("/etc/cron.d/evil.jpg", jpeg())]), 422, r"absolute paths are not allowed"),
    ("windows path", lambda: build_zip([*good(), ("cat\\..\\..\\evil.jpg", jpeg())]), 422, r"backslashes and NUL are not allowed"),
    ("symlink", lambda: build_zip([*good(), symlink("cat/passwd.jpg", "/etc/passwd")]), 422, r"is a symbolic link"),
    ("encrypted entry", lambda: mark_encrypted(build_zip(good()), "cat/0.jpg"), 422, r"'cat/0.jpg' is encrypted"),
    ("text named .jpg", lambda: build_zip([*good(), ("cat/notes.jpg", b"just text, named like a photo")]), 422, r"cat/notes.jpg is not a JPEG or PNG image \(it starts with 6a 75 73"),
    ("truncated JPEG", lambda: build_zip([*good(), ("cat/cut.jpg", jpeg()[:400])]), 422, r"cat/cut.jpg is a truncated JPEG"),
    ("pixel bomb PNG", lambda: build_zip([*good(), ("cat/huge.png", png_declaring(20000, 20000))]), 413, r"cat/huge.png is 20000x20000 pixels"),
    ("empty label", lambda: build_zip([*good(), ("bird/", b"")]), 422, r"label 'bird' has no images"),
    ("single label", lambda: build_zip(labelled({"cat": 6})), 422, r"only one label \('cat'\): a classifier needs at least two"),
    ("too few images", lambda: build_zip(labelled({"cat": 5, "dog": 2})), 422, r"label 'dog' has 2 images; at least 5 are needed"),
    ("label name", lambda: build_zip(labelled({"cat": 5, "my dog": 5})), 422, r"label folder 'my dog' is not a valid label"),
    ("labels by case", lambda: build_zip(labelled({"cat": 5, "Cat": 5, "dog": 5})), 422, r"labels \['Cat', 'cat'\] differ only in case"),
    ("loose file", lambda: build_zip([*good(), ("loose.jpg", jpeg())]), 422, r"'loose.jpg' is not inside a label folder"),
    ("nested folder", lambda: build_zip([*good(), ("cat/sub/x.jpg", jpeg())]), 422, r"must sit directly in their label folder"),
    ("not a zip", lambda: random_bytes(5000), 400, r"not a zip archive"),
    ("corrupt member", lambda: corrupt_member_data(build_zip(good(), zipfile.ZIP_STORED)), 400, r"the archive is corrupt: Bad CRC-32 for file 'cat/3.jpg'"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "status", "error"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_uploads_are_refused_and_leave_nothing(
    ingest: Ingest, body: Callable[[], bytes], status: int, error: str
) -> None:
    got, answer = send(ingest, body())
    assert (got, bool(re.search(error, answer["error"]))) == (status, True), answer
    assert_nothing_left(ingest)


@pytest.mark.parametrize(
    ("path", "headers", "status", "error"),
    [
        ("/zip", {}, 400, "the edgeId query parameter is required"),
        ("/zip?edgeId=../../etc", {}, 400, "edgeId '../../etc' is invalid"),
        ("/upload?edgeId=edge1", {}, 404, "no such endpoint /upload"),
        ("/zip?edgeId=edge1", {"Content-Length": "-5"}, 400, "Content-Length -5 is negative"),
    ],
)
def test_bad_requests_are_refused(ingest: Ingest, path: str, headers: dict, status: int, error: str) -> None:
    got, answer = send(ingest, build_zip(good()), path=path, headers=headers)
    assert got == status and error in answer["error"], answer
    assert_nothing_left(ingest)


def raw_exchange(port: int, head: str, body_chunks: Iterable[bytes] = ()) -> bytes:
    """Send a request head (and body chunks, ignoring a closed pipe), return the raw answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


@pytest.mark.parametrize("expect", [True, False], ids=["expect-100-continue", "plain"])
def test_a_2gb_upload_is_refused_from_its_header(ingest: Ingest, expect: bool) -> None:
    head = (
        "PUT /zip?edgeId=edge1 HTTP/1.1\r\nHost: edge\r\nContent-Length: 2147483648\r\n"
        + ("Expect: 100-continue\r\n" if expect else "")
        + "\r\n"
    )
    answer = raw_exchange(ingest.handle.port, head)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"100 Continue" not in answer
    assert b"the upload is 2147483648 bytes; the limit is 16777216 bytes" in answer
    assert_nothing_left(ingest)


def test_a_chunked_upload_is_cut_off_at_the_limit(ingest: Ingest) -> None:
    piece = random_bytes(64 * 1024)
    chunks = (b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(16 * 16 + 4))
    head = "PUT /zip?edgeId=edge1 HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = raw_exchange(ingest.handle.port, head, iter([*chunks, b"0\r\n\r\n"]))
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"the upload passed the limit of 16777216 bytes" in answer
    assert_nothing_left(ingest)


def test_an_upload_without_length_is_refused(ingest: Ingest) -> None:
    answer = raw_exchange(ingest.handle.port, "PUT /zip?edgeId=edge1 HTTP/1.1\r\nHost: edge\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 411 "), answer[:200]


def test_curl_upload_becomes_a_dataset_version_and_a_trigger(ingest: Ingest, tmp_path: Path) -> None:
    """The field convention, with the real curl: `curl -T data.zip 'http://host/zip?edgeId=edge1'`."""
    upload = tmp_path / "data.zip"
    upload.write_bytes(sample_zip_bytes(per_label=6))
    done = subprocess.run(
        ["curl", "-sS", "-T", str(upload), f"{ingest.url}/zip?edgeId=edge1", "-w", "\n%{http_code}"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    body, status = done.stdout.decode().rsplit("\n", 1)
    answer = json.loads(body)
    assert status == "201"
    assert answer["labels"] == {"brick": 6, "grass": 6, "gravel": 6} and answer["images"] == 18
    [stored] = ingest.store.versions("edge1", kind="dataset")
    assert stored.version == answer["version"]
    assert stored.manifest.meta["labels"] == {"brick": 6, "grass": 6, "gravel": 6}
    local = fetch_verified(ingest.store, "edge1", stored.version, tmp_path / "cache", kind="dataset")
    with zipfile.ZipFile(local.file("images.zip")) as archive:
        names = archive.namelist()
    assert (
        len(names) == 18 and names[0] == "brick/00001.jpg"
    )  # the zip's own folder dropped, names normalised
    assert sum(name.endswith(".png") for name in names) == 3  # PNGs recognised by content
    [trigger] = ingest.triggers()
    event = DatasetPublished.from_json(trigger.read_bytes())
    assert (event.dataset, event.version, event.edge_id) == ("edge1", stored.version, "edge1")
    assert list((tmp_path / "work").rglob("*")) == []  # scratch copies are gone


def test_post_with_a_bearer_token(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("s3cret-token\n")
    service = start_ingest(tmp_path, "--auth-tokens-file", str(tokens))
    try:
        body = build_zip([*good(), ("dog/extra.png", png())])
        assert send(service, body, method="POST")[0] == 401
        status, answer = send(service, body, method="POST", headers={"Authorization": "Bearer wrong"})
        assert status == 401 and "Bearer" in answer["error"]
        status, answer = send(service, body, method="POST", headers={"Authorization": "Bearer s3cret-token"})
        assert status == 201 and answer["labels"] == {"cat": 5, "dog": 6}
    finally:
        service.handle.stop()


def test_metrics_count_uploads_by_status(ingest: Ingest) -> None:
    send(ingest, random_bytes(100))
    send(ingest, build_zip(good()))
    connection = http.client.HTTPConnection("127.0.0.1", ingest.handle.port, timeout=10)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    assert 'liquidedge_ingest_uploads_total{status="400"} 1.0' in text
    assert 'liquidedge_ingest_uploads_total{status="201"} 1.0' in text
