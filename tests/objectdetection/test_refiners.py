"""The aggregator's refining stage, with stand-in refiners: any engine of the table that refines
another's boxes plugs in the same way (recognition today, a classifier next).

The face service is the real one; the refiners are real gRPC detector services whose engine
is a small stand-in that labels each region with the replica that saw it, so the tests see
which replica served which source, a slow refiner, and one that answers the wrong number of
boxes. The dlib recognition engine's own mesh tests are in tests/facerecognition.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from liquidedge.config import EnvDefaultsParser, add_common_flags
from liquidedge.detections import Detections
from liquidedge.engine import FrameContext
from liquidedge.imaging import encode_jpeg
from liquidedge.service import ServiceHandle, start_detector
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from objectdetection.fanout import Refinement, refined, unrefined, with_upstreams
from support.affinity import sources_spread_over
from support.calls import detect
from support.services import start_aggregator


class StandIn:
    """Names every region after its replica (and the source it came from); `delay_s` makes it slow."""

    name = "recognition"

    def __init__(self, replica: str, delay_s: float = 0.0, drop_one: bool = False) -> None:
        self.replica = replica
        self.delay_s = delay_s
        self.drop_one = drop_one
        self.sources: list[str] = []

    def refine(
        self, image_bgr: np.ndarray, context: FrameContext, deadline: float | None = None
    ) -> Detections:
        self.sources.append(context.source_id)
        time.sleep(self.delay_s)
        regions = context.regions[: len(context.regions) - 1] if self.drop_one else context.regions
        n = len(regions)
        return regions.with_data(identity=np.full(n, self.replica, object), distance=np.full(n, 0.25))


def serve(engine: StandIn) -> ServiceHandle:
    parser = EnvDefaultsParser(prog="stand-in")
    add_common_flags(parser, port=0, metrics_port=-1, max_in_flight=0)
    return start_detector("stand-in", "recognition", None, parser.parse_args(["--port", "0"]), lambda: engine)


@pytest.fixture
def stand_ins() -> Iterator[list[tuple[StandIn, ServiceHandle]]]:
    started: list[tuple[StandIn, ServiceHandle]] = []

    def start(*engines: StandIn) -> list[tuple[StandIn, ServiceHandle]]:
        for engine in engines:
            started.append((engine, serve(engine)))
        return started

    yield start  # type: ignore[misc]
    for _engine, handle in started:
        handle.stop(0)


def detect_from(port: int, jpeg: bytes, source: str) -> detection_pb2.DetectResponse:
    """A v1 Detect as robot `source` sends it."""
    frame = detection_pb2.Frame(number=1, jpeg=jpeg, source_id=source)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return detection_pb2_grpc.DetectorStub(channel).Detect(
            detection_pb2.DetectRequest(frame=frame), timeout=20
        )


def mesh_with(face: ServiceHandle, handles: list[ServiceHandle], *extra: str) -> ServiceHandle:
    target = ",".join(f"127.0.0.1:{h.port}" for h in handles)
    return start_aggregator(f"127.0.0.1:{face.port}", "", "--recognition-addr", f"ipv4:{target}", *extra)


@pytest.fixture(scope="module")
def small_face_jpeg(frames) -> bytes:
    """A 320x240 crop of the astronaut frame around her face (118 px): one face, a quarter of
    the Haar cascade's work."""
    return encode_jpeg(np.ascontiguousarray(frames["astronaut"].image_bgr[0:240, 120:440]))


def test_a_source_stays_on_its_replica_and_moves_only_when_that_one_is_out(
    face_service: ServiceHandle, stand_ins, small_face_jpeg: bytes
) -> None:
    (_, a_handle), (_, b_handle) = stand_ins(StandIn("a"), StandIn("b"))
    mesh = mesh_with(face_service, [a_handle, b_handle])
    astronaut_jpeg = small_face_jpeg
    try:
        sources = sources_spread_over([f"127.0.0.1:{h.port}" for h in (a_handle, b_handle)], 6)
        served = {}
        for _round in range(2):
            for source in sources:
                reply = detect_from(mesh.port, astronaut_jpeg, source)
                (face,) = [d for d in reply.detections if d.engine == "face"]
                served.setdefault(source, set()).add(face.attributes["identity"])
        assert all(len(replicas) == 1 for replicas in served.values()), served  # affinity
        on = {s: next(iter(r)) for s, r in served.items()}
        assert set(on.values()) == {"a", "b"}, on  # both replicas take sources
        # Replica b goes away: its sources move to a, a's sources stay where they were.
        b_handle.stop(0)
        for source in sources:
            reply = detect_from(mesh.port, astronaut_jpeg, source)
            (face,) = [d for d in reply.detections if d.engine == "face"]
            assert face.attributes["identity"] == "a", (source, on[source])
            assert {e.engine: e.ok for e in reply.engines} == {"face": True, "recognition": True}
    finally:
        mesh.stop(0)


def test_a_slow_refiner_leaves_the_boxes_unknown_in_time(
    face_service: ServiceHandle, stand_ins, astronaut_jpeg: bytes
) -> None:
    ((_slow, handle),) = stand_ins(StandIn("slow", delay_s=3.0))
    mesh = mesh_with(face_service, [handle])
    try:
        reply = detect(mesh.port, astronaut_jpeg, deadline_ms=1500, timeout_s=10)
        statuses = {e.engine: e for e in reply.engines}
        assert statuses["face"].ok and statuses["recognition"].code == "DEADLINE_EXCEEDED"
        (face,) = [d for d in reply.detections if d.engine == "face"]
        assert dict(face.attributes) == {"identity": "unknown"}
    finally:
        mesh.stop(0)


def test_a_refiner_answering_the_wrong_number_of_boxes_is_not_believed(
    face_service: ServiceHandle, stand_ins, astronaut_jpeg: bytes
) -> None:
    ((_engine, handle),) = stand_ins(StandIn("short", drop_one=True))
    mesh = mesh_with(face_service, [handle])
    try:
        reply = detect(mesh.port, astronaut_jpeg)
        statuses = {e.engine: e for e in reply.engines}
        assert statuses["recognition"].code == "INTERNAL" and "regions" in statuses["recognition"].error
        (face,) = [d for d in reply.detections if d.engine == "face"]
        assert face.attributes["identity"] == "unknown"
    finally:
        mesh.stop(0)


def test_no_face_no_refiner_call(face_service: ServiceHandle, stand_ins) -> None:
    ((engine, handle),) = stand_ins(StandIn("a"))
    mesh = mesh_with(face_service, [handle])
    try:
        reply = detect(mesh.port, encode_jpeg(np.full((480, 640, 3), 90, np.uint8)))
        assert not [d for d in reply.detections if d.engine == "face"]
        assert {e.engine: e.ok for e in reply.engines} == {"face": True, "recognition": True}
        assert engine.sources == []
    finally:
        mesh.stop(0)


def test_the_aggregator_refuses_regions_from_clients(
    face_service: ServiceHandle, stand_ins, astronaut_jpeg
) -> None:
    from support.calls import detect_or_error

    ((_engine, handle),) = stand_ins(StandIn("a"))
    mesh = mesh_with(face_service, [handle])
    try:
        error = detect_or_error(mesh.port, astronaut_jpeg, regions=[detection_pb2.Detection(label="face")])
        assert error.code().name == "INVALID_ARGUMENT"
        # ... and a detector that finds its own boxes refuses them too.
        error = detect_or_error(
            face_service.port, astronaut_jpeg, regions=[detection_pb2.Detection(label="face")]
        )
        assert error.code().name == "INVALID_ARGUMENT"
    finally:
        mesh.stop(0)


# -- the pure parts ----------------------------------------------------------------------------


def boxes(labels: list[str]) -> Detections:
    n = len(labels)
    return Detections(
        xyxy=[(i, i, i + 5, i + 5) for i in range(n)],
        confidence=np.ones(n),
        label=labels,
        engine=["yolo"] * n,
    )


@pytest.mark.parametrize(
    ("asked", "planned"),
    [
        (("recognition",), ("face", "recognition")),  # a refiner brings what it refines
        (("yolo", "recognition"), ("yolo", "face", "recognition")),
        (("face", "yolo"), ("face", "yolo")),  # not asked: not run
        (("recognition", "face"), ("face", "recognition")),  # once, upstream first
    ],
)
def test_plans(asked: tuple[str, ...], planned: tuple[str, ...]) -> None:
    assert with_upstreams(asked, {"recognition": Refinement("face", ("face",))}) == planned


def test_attributes_go_back_to_the_boxes_they_came_from() -> None:
    """A classifier refining chosen YOLO boxes: only boxes of its labels are sent and labelled."""
    found = boxes(["person", "dog", "person", "car"])
    refinement = Refinement("yolo", ("person", "car"), {"kind": "unknown"})
    indices = refinement.region_indices(found)
    assert indices.tolist() == [0, 2, 3]
    reply = found[indices].with_data(
        kind=np.array(["worker", "visitor", "van"], object), score=np.array([0.9, 0.8, 0.7])
    )
    merged = refined(found, indices, reply)
    assert [merged.attributes(i) for i in range(4)] == [
        {"kind": "worker", "score": pytest.approx(0.9)},
        {},
        {"kind": "visitor", "score": pytest.approx(0.8)},
        {"kind": "van", "score": pytest.approx(0.7)},
    ]
    failed = unrefined(found, indices, refinement.unrefined)
    assert [failed.attributes(i) for i in range(4)] == [
        {"kind": "unknown"},
        {},
        {"kind": "unknown"},
        {"kind": "unknown"},
    ]


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (
            ["--face-addr", "", "--recognition-addr", "localhost:50057"],
            "--recognition-addr needs --face-addr",
        ),
        (["--face-addr", "", "--yolo-addr", "", "--recognition-addr", "x:1"], "at least one of --face-addr"),
    ],
)
def test_a_refiner_without_what_it_refines_is_refused_at_start(
    flags: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from objectdetection.service import build_parser, check_args

    parser = build_parser()
    with pytest.raises(SystemExit):
        check_args(parser, parser.parse_args(flags))
    assert words in capsys.readouterr().err
