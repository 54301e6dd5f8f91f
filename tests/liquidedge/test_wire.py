"""A request body that is not protobuf is the client's mistake: INVALID_ARGUMENT, in both server kinds."""

from __future__ import annotations

import grpc
import pytest

from liquidedge.service import ServiceHandle
from servicekit import start_aggregator

GARBAGE = b"\x00"  # field number 0: never valid protobuf


@pytest.fixture(params=["thread", "aio"])
def aggregator(request: pytest.FixtureRequest, face_service: ServiceHandle):
    handle = start_aggregator(f"127.0.0.1:{face_service.port}", "", "--server-mode", request.param)
    yield handle
    handle.stop(0)


@pytest.mark.parametrize(
    "method",
    ["/liquidedge.v1.Detector/Detect", "/ObjectDetection/ObjectDetect", "/grpc.health.v1.Health/Check"],
)
def test_unparsable_unary_request(aggregator: ServiceHandle, method: str) -> None:
    address = f"127.0.0.1:{aggregator.port}"
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as error:
        channel.unary_unary(method)(GARBAGE, timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"the request to {method} is not a valid protobuf message" in error.value.details()


def test_unparsable_message_ends_a_stream_with_invalid_argument(aggregator: ServiceHandle) -> None:
    address = f"127.0.0.1:{aggregator.port}"
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as error:
        list(channel.stream_stream("/liquidedge.v1.Detector/DetectStream")(iter([GARBAGE]), timeout=5))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_unparsable_request_to_a_detector(face_service: ServiceHandle) -> None:
    address = f"127.0.0.1:{face_service.port}"
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as error:
        channel.unary_unary("/FaceDetection/FaceDetect")(b"\xff\xff", timeout=5)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
