"""Both store backends under test: a local directory, and S3 through a real S3-protocol server.

The S3 server is moto's `ThreadedMotoServer` (PyPI `moto[server]`): a real HTTP server on
loopback that speaks the S3 REST protocol, so boto3 runs its normal code path (signing,
conditional writes, checksums). No MinIO binary exists in Debian or PyPI here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from storekit import S3_CREDENTIALS, StoreUnderTest, new_bucket, s3_client

from modelstore.backends.local import LocalBackend
from modelstore.backends.s3 import S3Backend
from modelstore.store import ModelStore


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    return S3_CREDENTIALS


@pytest.fixture(params=["local", "s3"])
def under_test(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    if request.param == "local":
        root = tmp_path / "store"
        return StoreUnderTest(ModelStore(LocalBackend(root)), str(root), root)
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = new_bucket(endpoint)
    client = s3_client(endpoint)
    return StoreUnderTest(ModelStore(S3Backend(bucket, client=client)), f"s3://{bucket}", (client, bucket))


@pytest.fixture
def model_src(tmp_path: Path) -> Path:
    """A small model folder: a cfg, weights with every byte value, and class names."""
    folder = tmp_path / "model-src"
    folder.mkdir()
    (folder / "net.cfg").write_text("[net]\nwidth=416\nheight=416\n")
    (folder / "net.weights").write_bytes(bytes(range(256)) * 64)
    (folder / "classes.names").write_text("bottle\ncup\n")
    return folder
