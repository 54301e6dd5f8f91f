"""Kafka against a real Kafka-protocol broker (Tansu on loopback) with the real mesh and cameras."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import confluent_kafka as kafka
import pytest
from gateway_kit import (
    CAMERA_TOKEN,
    WAIT_S,
    call,
    camera_state,
    register,
    start_gateway,
    state,
    token_files,
)

from cameragateway.service import GatewayHandle
from liquidedge.service import ServiceHandle
from meshtools.camera_emulator import CameraEmulator
from meshtools.kafka_broker import LocalBroker
from support.kafka_topics import TopicReader
from support.waiting import wait_for

EVENTS, FRAMES = "test.events", "test.frames"


@pytest.fixture
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as running:
        yield running


@pytest.fixture
def cameras(jpegs: list[bytes]) -> Iterator[list[CameraEmulator]]:
    started = [CameraEmulator(jpegs, fps=5).start() for _ in range(2)]
    yield started
    for camera in started:
        camera.stop()


def kafka_gateway(mesh: ServiceHandle, broker: LocalBroker, tmp_path: Path, *extra: str) -> GatewayHandle:
    tokens, _operator = token_files(tmp_path)
    return start_gateway(
        mesh.port,
        "--camera-tokens-file",
        str(tokens),
        "--kafka-bootstrap",
        broker.bootstrap,
        "--kafka-events-topic",
        EVENTS,
        "--kafka-frames-topic",
        FRAMES,
        "--max-fps",
        "3",
        *extra,
    )


def add(gateway: GatewayHandle, camera: CameraEmulator, camera_id: str) -> None:
    assert register(gateway, ip=camera.address, id=camera_id, token=CAMERA_TOKEN)[0] == 200


def produce_frames(bootstrap: str, key: str, frames: list[bytes]) -> None:
    producer = kafka.Producer({"bootstrap.servers": bootstrap})
    for frame in frames:
        producer.produce(FRAMES, key=key.encode(), value=frame)
    assert producer.flush(10) == 0


def test_events_in_order_per_camera_and_frames_answered(
    aggregator_service: ServiceHandle,
    broker: LocalBroker,
    cameras: list[CameraEmulator],
    jpegs: list[bytes],
    tmp_path: Path,
) -> None:
    gateway = kafka_gateway(aggregator_service, broker, tmp_path)
    reader = TopicReader(broker.bootstrap, EVENTS)
    try:
        add(gateway, cameras[0], "dock")
        add(gateway, cameras[1], "gate")
        produce_frames(broker.bootstrap, "line-1", [jpegs[0], jpegs[1], b"not a jpeg", jpegs[0]])

        def enough() -> bool:
            grouped = reader.read() and reader.by_key()
            return (
                bool(grouped)
                and all(len(grouped.get(k, [])) >= 5 for k in ("dock", "gate"))
                and len(grouped.get("line-1", [])) >= 4
            )

        wait_for(enough, 90, "events from both cameras and the four Kafka frames")
        # Stop the cameras (their links joined: no more answers), then every answer they got
        # must be on the topic, one event each.
        answered = {}
        for camera_id in ("dock", "gate"):
            camera = gateway.fleet.get(camera_id)
            gateway.fleet.remove(camera_id)
            answered[camera_id] = camera.counters.answered
        wait_for(
            lambda: reader.read() and all(len(reader.by_key()[k]) >= n for k, n in answered.items()),
            WAIT_S,
            f"one event per answered frame: {answered}",
        )
        grouped = reader.by_key()
        assert {k: len(grouped[k]) for k in answered} == answered
        for camera_id in ("dock", "gate"):
            events = grouped[camera_id]
            numbers = [e["frame"] for e in events]
            assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers), (camera_id, numbers)
            assert all(e["source"] == camera_id and e["source_kind"] == "camera" for e in events)
        # The frames topic: each frame answered, in order; the undecodable one with its error.
        line = grouped["line-1"][:4]
        assert [e["frame"] for e in line] == sorted(e["frame"] for e in line)
        assert [("error" in e) for e in line] == [False, False, True, False]
        assert line[2]["error"]["code"] == "INVALID_ARGUMENT"
        assert {d["label"] for d in line[0]["detections"]} >= {"face"}  # astronaut
        assert {d["label"] for d in line[1]["detections"]} >= {"person"}  # the cameraman
        event = grouped["dock"][-1]
        assert {s["engine"] for s in event["engines"]} == {"face", "yolo"}
        assert event["served_by"]["hostname"] and event["capture_time_us"] > 0
        assert state(gateway)["kafka"]["frames_answered"] >= 3
    finally:
        reader.close()
        gateway.stop(0)


def test_broker_killed_and_restarted_mid_run(
    aggregator_service: ServiceHandle, broker: LocalBroker, cameras: list[CameraEmulator], tmp_path: Path
) -> None:
    gateway = kafka_gateway(
        aggregator_service, broker, tmp_path, "--kafka-message-timeout-s", "2", "--kafka-buffer", "8"
    )
    try:
        add(gateway, cameras[0], "dock")
        wait_for(lambda: state(gateway)["kafka"]["published"] >= 3, WAIT_S, "events published")
        broker.stop()  # SIGKILL
        answered_when_killed = camera_state(gateway, "dock")["answered"]
        # The gateway keeps serving the cameras and the dashboard, and says what it could not publish.
        wait_for(lambda: state(gateway)["kafka"]["dropped"] >= 3, WAIT_S, "events counted as not published")
        wait_for(
            lambda: camera_state(gateway, "dock")["answered"] >= answered_when_killed + 5,
            WAIT_S,
            "the camera answered on while the broker is down",
        )
        down = state(gateway)["kafka"]
        assert not down["broker_up"] and down["buffered"] <= 8  # bounded
        published_before = down["published"]

        broker.start()  # same port, empty (memory storage)
        wait_for(
            lambda: state(gateway)["kafka"]["published"] >= published_before + 3, WAIT_S, "publishing again"
        )
        reader = TopicReader(broker.bootstrap, EVENTS)
        try:
            wait_for(lambda: len(reader.read()) >= 2, WAIT_S, "events on the restarted broker")
            numbers = [e["frame"] for _k, e in reader.messages]
            assert numbers == sorted(numbers)
        finally:
            reader.close()
        metrics = call("GET", f"http://127.0.0.1:{gateway.metrics_port}/metrics")[1].decode()
        dropped = sum(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("liquidedge_kafka_events_dropped_total")
        )
        assert dropped == state(gateway)["kafka"]["dropped"] >= 3
    finally:
        gateway.stop(0)


def test_broker_down_from_the_start(
    aggregator_service: ServiceHandle, cameras: list[CameraEmulator], tmp_path: Path
) -> None:
    """No broker when the gateway starts: it starts, serves, and publishes once one comes."""
    broker = LocalBroker()  # its port, not started yet
    gateway = kafka_gateway(aggregator_service, broker, tmp_path, "--kafka-message-timeout-s", "30")
    try:
        add(gateway, cameras[0], "dock")
        wait_for(lambda: camera_state(gateway, "dock")["answered"] >= 3, WAIT_S, "answers with no broker")
        assert state(gateway)["kafka"]["published"] == 0
        broker.start()
        wait_for(
            lambda: state(gateway)["kafka"]["published"] >= 3, WAIT_S, "publishing once the broker is up"
        )
    finally:
        gateway.stop(0)
        broker.stop()
