"""A request body that is not protobuf is the client's mistake: INVALID_ARGUMENT, in both server kinds."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from liquidedge.service import ServiceHandle
from support.services import start_aggregator

GARBAGE = b"\x00"  # field number 0: never valid protobuf


@pytest.fixture(scope="module")
def servers(face_service: ServiceHandle) -> Iterator[dict[str, ServiceHandle]]:
    """One service of each server kind: the asyncio aggregator and a thread-pool detector."""
    aggregator = start_aggregator(f"127.0.0.1:{face_service.port}", "")
    yield {"aggregator": aggregator, "face": face_service}
    aggregator.stop(0)


@pytest.mark.parametrize(
    ("server", "method"),
    [
        ("aggregator", "/liquidedge.v1.Detector/Detect"),
        ("aggregator", "/ObjectDetection/ObjectDetect"),
        ("aggregator", "/grpc.health.v1.Health/Check"),
        ("face", "/liquidedge.v1.Detector/Detect"),
        ("face", "/FaceDetection/FaceDetect"),
        ("face", "/grpc.health.v1.Health/Check"),
    ],
)
def test_unparsable_unary_request(servers: dict[str, ServiceHandle], server: str, method: str) -> None:
    address = f"127.0.0.1:{servers[server].port}"
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as error:
        channel.unary_unary(method)(GARBAGE, timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"the request to {method} is not a valid protobuf message" in error.value.details()


@pytest.mark.parametrize("server", ["aggregator", "face"])
def test_unparsable_message_ends_a_stream_with_invalid_argument(
    servers: dict[str, ServiceHandle], server: str
) -> None:
    address = f"127.0.0.1:{servers[server].port}"
    method = "/liquidedge.v1.Detector/DetectStream"
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as error:
        list(channel.stream_stream(method)(iter([GARBAGE]), timeout=5))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"the request to {method} is not a valid protobuf message" in error.value.details()
