"""One call to a running service over a real channel: a v1 Detect, a health check, a metrics read."""

from __future__ import annotations

import contextlib
import urllib.request
from collections.abc import Iterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from liquidedge.v1 import detection_pb2, detection_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


# Where a call goes: a port on loopback, an address, or a channel the caller keeps open.
Where = int | str | grpc.Channel


def target(where: int | str) -> str:
    """A port on loopback, or an address as given."""
    return f"127.0.0.1:{where}" if isinstance(where, int) else where


def open_channel(where: int | str, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
    """Plaintext, or TLS with `credentials`."""
    if credentials is None:
        return grpc.insecure_channel(target(where))
    return grpc.secure_channel(target(where), credentials)


@contextlib.contextmanager
def connected(where: Where, credentials: grpc.ChannelCredentials | None = None) -> Iterator[grpc.Channel]:
    """The caller's channel as it is, or a new one closed afterwards."""
    if isinstance(where, grpc.Channel):
        yield where
        return
    with open_channel(where, credentials) as channel:
        yield channel


def detect_request(jpeg: bytes, number: int = 1, **fields: object) -> detection_pb2.DetectRequest:
    return detection_pb2.DetectRequest(frame=detection_pb2.Frame(number=number, jpeg=jpeg), **fields)


def detect(
    where: Where, jpeg: bytes, *, number: int = 1, timeout_s: float = 20.0, **fields: object
) -> detection_pb2.DetectResponse:
    """One v1 `Detect` of `jpeg` with the request fields given; raises grpc.RpcError."""
    with connected(where) as channel:
        return detection_pb2_grpc.DetectorStub(channel).Detect(
            detect_request(jpeg, number, **fields), timeout=timeout_s
        )


def detect_or_error(
    where: Where, jpeg: bytes, *, number: int = 1, timeout_s: float = 20.0, **fields: object
) -> detection_pb2.DetectResponse | grpc.RpcError:
    """As `detect`, with the error returned rather than raised (for tables of expected codes)."""
    try:
        return detect(where, jpeg, number=number, timeout_s=timeout_s, **fields)
    except grpc.RpcError as error:
        return error


def health_status(
    where: Where,
    service: str = "",
    timeout_s: float = 5.0,
    credentials: grpc.ChannelCredentials | None = None,
) -> int | grpc.StatusCode:
    """The health status of `service` (SERVING, NOT_SERVING...), or the call's error code."""
    with connected(where, credentials) as channel:
        try:
            return (
                health_pb2_grpc.HealthStub(channel)
                .Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
                .status
            )
        except grpc.RpcError as error:
            return error.code()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(host: str, port: int, timeout_s: float = 2.0) -> Samples:
    """Every Prometheus sample a `/metrics` endpoint serves, keyed (name, sorted labels)."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout_s) as reply:
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric_sum(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(value for (sample, got), value in samples.items() if sample == name and wanted <= set(got))
