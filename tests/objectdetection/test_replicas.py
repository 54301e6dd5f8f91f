"""Replica balancing, retries and outlier ejection in the aggregator."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from liquidedge.service import ServiceHandle
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from objectdetection.replicas import ReplicaPolicy, ReplicaPool, split_target
from servicekit import start_aggregator, start_face

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
    p = ReplicaPool(
        "face",
        "dns:///face.edge:5",
        lambda address: grpc.insecure_channel(address),
        ReplicaPolicy(resolve_interval_s=5.0),
        clock=clock,
        resolver=lambda _name: list(answers["now"]),
    )
    assert sorted(r.address for r in p.replicas) == ["10.0.0.1:5", "10.0.0.2:5"]
    answers["now"] = ["10.0.0.2:5", "10.0.0.3:5"]
    p.refresh()
    assert sorted(r.address for r in p.replicas) == ["10.0.0.1:5", "10.0.0.2:5"]  # not yet: resolve interval
    clock.now += 5
    p.refresh()
    assert sorted(r.address for r in p.replicas) == ["10.0.0.2:5", "10.0.0.3:5"]


def test_no_time_left_is_deadline_exceeded_without_calling() -> None:
    clock = FakeClock()
    p = pool(["10.0.0.1:1"], clock)
    with pytest.raises(Exception, match="no time left") as error:
        p.detect(detection_pb2.DetectRequest(), deadline=clock.now + 0.001, cancelled=threading.Event())
    assert error.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_killing_one_of_two_replicas_mid_stream_loses_no_frame(
    monkeypatch: pytest.MonkeyPatch, astronaut_jpeg: bytes
) -> None:
    monkeypatch.setenv("POD_NAME", "face-a")
    first = start_face()
    monkeypatch.setenv("POD_NAME", "face-b")
    second = start_face()
    monkeypatch.delenv("POD_NAME")
    target = f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}"
    aggregator = start_aggregator(target, "")
    try:
        served: list[str] = []
        failed = 0
        with grpc.insecure_channel(f"127.0.0.1:{aggregator.port}") as channel:
            stub = detection_pb2_grpc.DetectorStub(channel)
            for number in range(30):
                if number == 10:
                    first.stop(0)  # the replica dies between frames; its channel still looks connected
                frame = detection_pb2.Frame(number=number, jpeg=astronaut_jpeg)
                reply = stub.Detect(detection_pb2.DetectRequest(frame=frame, deadline_ms=2000), timeout=5)
                engine = reply.engines[0]
                if engine.ok:
                    served.append(engine.served_by.hostname)
                else:
                    failed += 1
        print(f"kill one of two face replicas: 30 frames, {failed} lost")
        assert failed == 0
        assert set(served[:10]) == {"face-a", "face-b"}  # balanced before the kill
        assert set(served[12:]) == {"face-b"}  # only the survivor after it
    finally:
        aggregator.stop(0)
        second.stop(0)
        first.stop(0)


def health_ejections(aggregator: ServiceHandle) -> float:
    labels = {"service": "objectdetection", "engine": "face", "reason": "health"}
    return aggregator.metrics.registry.get_sample_value("liquidedge_replica_ejections_total", labels) or 0.0


def test_a_replica_that_fails_its_health_probe_is_ejected_quickly(astronaut_jpeg: bytes) -> None:
    first, second = start_face(), start_face()
    aggregator = start_aggregator(f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}", "")
    try:
        first.server.set_serving(False)  # as a draining or sick pod says
        started = time.monotonic()
        with grpc.insecure_channel(f"127.0.0.1:{aggregator.port}") as channel:
            stub = detection_pb2_grpc.DetectorStub(channel)
            request = detection_pb2.DetectRequest(frame=detection_pb2.Frame(jpeg=astronaut_jpeg))
            while time.monotonic() - started < 5:
                reply = stub.Detect(request, timeout=5)
                if health_ejections(aggregator) >= 1:
                    break
                time.sleep(0.05)
        elapsed = time.monotonic() - started
        print(f"replica saying NOT_SERVING ejected after {elapsed:.2f} s (probe interval 0.2 s)")
        assert health_ejections(aggregator) >= 1
        assert reply.engines[0].ok
    finally:
        aggregator.stop(0)
        first.stop(0)
        second.stop(0)
