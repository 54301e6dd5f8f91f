"""One call to a running service over a real channel: a v1 Detect, a health check, a metrics read."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from support.waiting import wait_for

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

# What `request` puts in every frame, so a test can check that the answer echoes it.
CAPTURE_TIME_US = 123_456_789
SOURCE_ID = "robot-1"

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


def request(jpeg: bytes, number: int = 7, **fields: object) -> detection_pb2.DetectRequest:
    """A v1 request as a robot sends it: capture time and source filled in, so echoes can be checked."""
    frame = detection_pb2.Frame(
        number=number, capture_time_us=CAPTURE_TIME_US, jpeg=jpeg, source_id=SOURCE_ID
    )
    return detection_pb2.DetectRequest(frame=frame, **fields)


def detect(
    where: Where, jpeg: bytes, *, number: int = 7, timeout_s: float = 20.0, **fields: object
) -> detection_pb2.DetectResponse:
    """One v1 `Detect` of `jpeg` with the request fields given; a refusal raises grpc.RpcError."""
    with connected(where) as channel:
        return detection_pb2_grpc.DetectorStub(channel).Detect(
            request(jpeg, number, **fields), timeout=timeout_s
        )


def detect_or_error(
    where: Where, jpeg: bytes, *, number: int = 7, timeout_s: float = 20.0, **fields: object
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
    """The health status of `service` (SERVING, NOT_SERVING...), or the call's error code
    (UNAVAILABLE from a port nothing listens on any more)."""
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


def scrape(port: int, host: str = "127.0.0.1", timeout_s: float = 5.0) -> Samples:
    """Every Prometheus sample a `/metrics` endpoint serves, keyed (name, sorted labels)."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout_s) as reply:
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def service_status(port: int, host: str = "127.0.0.1", timeout_s: float = 5.0) -> dict:
    """The JSON a service's `/status` (on its metrics port) answers with."""
    with urllib.request.urlopen(f"http://{host}:{port}/status", timeout=timeout_s) as reply:
        assert reply.headers["Content-Type"] == "application/json"
        return json.loads(reply.read())


def metric_sum(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(value for (sample, got), value in samples.items() if sample == name and wanted <= set(got))


def wait_metric(
    port: int, name: str, value: float, *, host: str = "127.0.0.1", timeout_s: float = 15.0, **labels: str
) -> None:
    """Poll a `/metrics` endpoint until `metric_sum(name, **labels)` is `value`; TimeoutError with
    the last sum seen."""
    shown = ",".join(f'{key}="{label}"' for key, label in labels.items())
    wait_for(
        lambda: metric_sum(scrape(port, host), name, **labels),
        timeout_s,
        f"{name}{{{shown}}} == {value:g} on {host}:{port}",
        until=lambda seen: seen == value,
    )


def health_name(status: int | grpc.StatusCode) -> str:
    """SERVING, NOT_SERVING..., or the call's error code, by name (for failure messages)."""
    if isinstance(status, grpc.StatusCode):
        return status.name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(status)


def wait_health(
    where: Where, status: int = SERVING, service: str = "", timeout_s: float = 15.0, *, leaves: bool = False
) -> str:
    """Poll the health of `service` until it says `status` (with `leaves`: until it says anything
    else, as a draining server does: NOT_SERVING, then no answer); returns the answer by name,
    or raises TimeoutError with the last answer."""
    named = health_name(status)
    wait_for_what = (
        f"health of {service or 'the server'} at {where} to {'stop saying' if leaves else 'say'} {named}"
    )
    return wait_for(
        lambda: health_name(health_status(where, service, timeout_s=2.0)),
        timeout_s,
        wait_for_what,
        until=lambda seen: (seen == named) != leaves,
    )
