"""Replica balancing, retries and outlier ejection in the aggregator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import grpc
import pytest

from liquidedge.service import ServiceHandle
from liquidedge.v1 import detection_pb2
from objectdetection.replicas import AttemptError, ReplicaPolicy, ReplicaPool, split_target
from support.calls import detect, open_channel, service_status
from support.services import start_aggregator, start_face
from support.waiting import wait_for

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pool(addresses: list[str], clock: FakeClock, **policy: float) -> ReplicaPool:
    return ReplicaPool(
        "yolo",
        "ipv4:" + ",".join(addresses),
        lambda address: grpc.insecure_channel(address),  # lazy: nothing connects in these tests
        ReplicaPolicy(**policy),
        clock=clock,
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("dns:///yolo.edge.svc:50055", ("dns", ["yolo.edge.svc:50055"])),
        ("dns:yolo:50055", ("dns", ["yolo:50055"])),
        ("ipv4:10.0.0.1:1,10.0.0.2:1", ("ipv4", ["10.0.0.1:1", "10.0.0.2:1"])),
        ("localhost:50055", ("grpc", ["localhost:50055"])),  # one replica, gRPC resolves it
        ("unix:/tmp/yolo.sock", ("grpc", ["unix:/tmp/yolo.sock"])),
    ],
)
def test_split_target(target: str, expected: tuple[str, list[str]]) -> None:
    assert split_target(target) == expected


def test_round_robin_over_replicas_in_service() -> None:
    p = pool(["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"], FakeClock())
    assert sorted(p.choose().address for _ in range(6)) == sorted(
        ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"] * 2
    )
    assert p.choose(exclude=["10.0.0.1:1", "10.0.0.2:1"]).address == "10.0.0.3:1"


def test_consecutive_failures_eject_then_time_brings_it_back_and_ejections_double() -> None:
    clock = FakeClock()
    p = pool(["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"], clock, consecutive_failures=3, base_ejection_s=2.0)
    bad = p.replicas[0]
    for _ in range(2):
        p.record(bad, UNAVAILABLE)
    p.record(bad, grpc.StatusCode.OK)  # a success resets the count
    for _ in range(2):
        p.record(bad, UNAVAILABLE)
    assert bad.address in p.in_service()
    p.record(bad, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert bad.address not in p.in_service()
    assert all(p.choose().address != bad.address for _ in range(10))
    clock.now += 2.01
    assert bad.address in p.in_service()
    for _ in range(3):
        p.record(bad, UNAVAILABLE)
    clock.now += 2.01
    assert bad.address not in p.in_service()  # second ejection lasts 4 s
    clock.now += 2.0
    assert bad.address in p.in_service()


def test_a_replica_still_starting_is_kept_out_quietly_one_that_served_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`make run` starts every process at once: the aggregator's first probes find detectors still
    loading. Kept out all the same, but a warning is for a replica that served and stopped."""
    p = pool(
        ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"],
        FakeClock(),
        consecutive_failures=1,
        max_ejected_fraction=1.0,
    )
    starting, served, _ = p.replicas
    p.record(served, grpc.StatusCode.OK)
    with caplog.at_level(logging.INFO, logger="objectdetection.replicas"):
        p.record(starting, UNAVAILABLE)
        p.record(served, UNAVAILABLE)
    assert p.in_service() == ["10.0.0.3:1"]
    ejections = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "objectdetection.replicas"]
    assert ejections == [
        (logging.INFO, "replica not serving yet, kept out"),
        (logging.WARNING, "replica ejected"),
    ]


def test_shedding_and_bad_frames_do_not_count_against_a_replica() -> None:
    p = pool(["10.0.0.1:1", "10.0.0.2:1"], FakeClock(), consecutive_failures=1)
    replica = p.replicas[0]
    p.record(replica, grpc.StatusCode.RESOURCE_EXHAUSTED)
    p.record(replica, grpc.StatusCode.INVALID_ARGUMENT)
    assert replica.address in p.in_service()


def test_failures_never_eject_more_than_the_allowed_share() -> None:
    p = pool(["10.0.0.1:1", "10.0.0.2:1"], FakeClock(), consecutive_failures=1, max_ejected_fraction=0.5)
    first, second = p.replicas
    p.record(first, UNAVAILABLE)
    p.record(second, UNAVAILABLE)
    assert p.in_service() == [second.address]


def test_when_every_replica_is_ejected_the_soonest_back_is_still_tried() -> None:
    clock = FakeClock()
    p = pool(["10.0.0.1:1"], clock, consecutive_failures=1, max_ejected_fraction=1.0)
    p.record(p.replicas[0], UNAVAILABLE)
    assert p.in_service() == []
    assert p.choose().address == "10.0.0.1:1"


def test_dns_targets_follow_the_resolver() -> None:
    answers = {"now": ["10.0.0.1:5", "10.0.0.2:5"]}
    clock = FakeClock()

    async def resolve(_name: str) -> list[str]:
        return list(answers["now"])

    async def scenario() -> None:
        p = ReplicaPool(
            "face",
            "dns:///face.edge:5",
            grpc.aio.insecure_channel,  # lazy: nothing connects in this test
            ReplicaPolicy(resolve_interval_s=5.0),
            clock=clock,
            resolver=resolve,
        )
        assert p.replicas == []  # nothing resolved before the first refresh
        await p.refresh()
        assert sorted(r.address for r in p.replicas) == ["10.0.0.1:5", "10.0.0.2:5"]
        answers["now"] = ["10.0.0.2:5", "10.0.0.3:5"]
        await p.refresh()
        assert sorted(r.address for r in p.replicas) == ["10.0.0.1:5", "10.0.0.2:5"]  # not yet: interval
        clock.now += 5
        await p.refresh()
        assert sorted(r.address for r in p.replicas) == ["10.0.0.2:5", "10.0.0.3:5"]
        await p.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("addresses", "attempt", "budget_share"),
    [
        (["10.0.0.1:1", "10.0.0.2:1"], 0, 0.6),  # another replica could take a retry: keep 40% for it
        (["10.0.0.1:1", "10.0.0.2:1"], 1, 1.0),  # the last attempt gets whatever is left
        (["10.0.0.1:1"], 0, 1.0),  # no other replica: no reason to hold time back
    ],
)
def test_the_first_attempt_leaves_time_for_a_retry_on_another_replica(
    addresses: list[str], attempt: int, budget_share: float
) -> None:
    clock = FakeClock()
    p = pool(addresses, clock, max_attempts=2)
    tried = [addresses[0]] if attempt else []
    step = p.next_attempt(attempt, deadline=clock.now + 1.0, tried=tried)
    assert step is not None
    replica, timeout_s = step
    assert timeout_s == pytest.approx(budget_share)
    assert tried[-1] == replica.address and tried.count(replica.address) == 1  # never the same replica twice


def test_no_time_left_is_deadline_exceeded_without_calling() -> None:
    clock = FakeClock()
    p = pool(["10.0.0.1:1"], clock)
    with pytest.raises(AttemptError, match="no time left") as error:
        asyncio.run(p.detect(detection_pb2.DetectRequest(), deadline=clock.now + 0.001))
    assert error.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.value.address == ""  # no replica was called


@pytest.fixture
def two_faces(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ServiceHandle, ServiceHandle]]:
    """Two face replicas that name themselves face-a and face-b in answers, as pods do."""
    started = []
    for name in ("face-a", "face-b"):
        monkeypatch.setenv("POD_NAME", name)
        started.append(start_face())
    monkeypatch.delenv("POD_NAME")
    yield started[0], started[1]
    for face in started:
        face.stop(0)


def replicas_target(*faces: ServiceHandle) -> str:
    return "ipv4:" + ",".join(f"127.0.0.1:{face.port}" for face in faces)


def test_killing_one_of_two_replicas_mid_stream_loses_no_frame(
    two_faces: tuple[ServiceHandle, ServiceHandle], astronaut_jpeg: bytes
) -> None:
    first, _second = two_faces
    aggregator = start_aggregator(replicas_target(*two_faces), "")
    try:
        served: list[str] = []
        failed = 0
        with open_channel(aggregator.port) as channel:
            for number in range(30):
                if number == 10:
                    first.stop(0)  # the replica dies between frames; its channel still looks connected
                reply = detect(channel, astronaut_jpeg, number=number, deadline_ms=2000, timeout_s=5)
                engine = reply.engines[0]
                if engine.ok:
                    served.append(engine.served_by.hostname)
                else:
                    failed += 1
        print(f"kill one of two face replicas: 30 frames, {failed} lost")
        assert failed == 0
        assert set(served[:10]) == {"face-a", "face-b"}  # balanced before the kill
        assert served[10:] == ["face-b"] * 20  # only the survivor from the kill on (a retry, if need be)
    finally:
        aggregator.stop(0)


def health_ejections(aggregator: ServiceHandle) -> float:
    labels = {"service": "objectdetection", "engine": "face", "reason": "health"}
    return aggregator.metrics.registry.get_sample_value("liquidedge_replica_ejections_total", labels) or 0.0


def test_a_replica_that_fails_its_health_probe_is_ejected_at_once(
    two_faces: tuple[ServiceHandle, ServiceHandle], astronaut_jpeg: bytes
) -> None:
    first, second = two_faces
    aggregator = start_aggregator(replicas_target(*two_faces), "", "--ejection-s", "30")
    try:
        first.server.set_serving(False)  # as a draining or sick pod says, while still answering calls
        # No failed call is needed: the next probe (every 0.2 s here) takes it out of service.
        wait_for(
            lambda: health_ejections(aggregator), 10, "an ejection by health probe", until=lambda n: n == 1
        )
        served = {detect(aggregator.port, astronaut_jpeg).engines[0].served_by.hostname for _ in range(4)}
        assert served == {"face-b"}
        # The operator's view of the same: /status lists both replicas and which one is out, for how long.
        replicas = {r["address"]: r for r in service_status(aggregator.metrics_port)["replicas"]["face"]}
        out, serving = replicas[f"127.0.0.1:{first.port}"], replicas[f"127.0.0.1:{second.port}"]
        assert (out["in_service"], out["ejections"]) == (False, 1)
        assert 20 < out["ejected_for_s"] <= 30  # --ejection-s 30, probed a moment ago
        assert (serving["in_service"], serving["ejections"], serving["ejected_for_s"]) == (True, 0, 0)
    finally:
        aggregator.stop(0)
