"""The recognition service on loopback, its gallery in a model store of the test's own, and
the calls the mesh tests make (gRPC `Gallery` with a token, frames as JPEG)."""

from __future__ import annotations

from pathlib import Path

import grpc

from facerecognition.gallery import Gallery
from facerecognition.service import build_parser, start
from facerecognition.store import GalleryPlace
from liquidedge.service import ServiceHandle
from liquidedge.v1 import gallery_pb2, gallery_pb2_grpc
from modelstore import open_store

OPERATOR_TOKEN = "operator-secret"
ROBOT_TOKEN = "robot-secret"


def gallery_place(root: Path) -> GalleryPlace:
    """The store the test's recognition services watch: `root/store`, cached in `root/cache`."""
    return GalleryPlace(open_store(str(root / "store")), cache_dir=root / "cache")


def publish(root: Path, gallery: Gallery) -> str:
    gallery_place(root).publish(gallery)
    return gallery.version


def start_recognition(root: Path, model_dir: Path, *extra: str) -> ServiceHandle:
    """A recognition service on port 0 watching `root`'s store every 0.2 s, with operator tokens."""
    tokens = root / "operators.txt"
    tokens.write_text(OPERATOR_TOKEN + "\n")
    args = [
        *("--port", "0", "--metrics-port", "0", "--model-dir", str(model_dir)),
        *("--model-store", str(root / "store"), "--model-cache-dir", str(root / "cache")),
        *("--model-poll-s", "0.2", "--operator-tokens-file", str(tokens)),
        *extra,
    ]
    return start(build_parser().parse_args(args))


def gallery_call(port: int, method: str, request: object, token: str | None = OPERATOR_TOKEN) -> object:
    """One `Gallery` call with `token` as the bearer token (None: no token); raises grpc.RpcError."""
    metadata = None if token is None else (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = gallery_pb2_grpc.GalleryStub(channel)
        return getattr(stub, method)(request, metadata=metadata, timeout=60)


def enroll_request(name: str, *photos: tuple[str, bytes], replace: bool = False) -> gallery_pb2.EnrollRequest:
    return gallery_pb2.EnrollRequest(
        name=name, photos=[gallery_pb2.Photo(filename=f, data=d) for f, d in photos], replace=replace
    )
