"""Names through the whole mesh: face service, recognition service and aggregator on loopback.

Real photos (the face_recognition 1.3.0 test photos, the gallery holds obama.jpg and biden.jpg
only), real gRPC, the gallery in a model store of the test's own. Every face must come back
with the truth or "unknown", never another person's name; recognition can be turned off by
request, is off for legacy robots unless the operator turns names on, and when it is down the
face boxes still come back with the recognition status saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from face_photos import CASES, build_case, truth_of
from meshkit import ROBOT_TOKEN, publish, start_recognition

from facerecognition.gallery import UNKNOWN, Gallery
from liquidedge.imaging import encode_jpeg
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.service import ServiceHandle
from liquidedge.v1 import detection_pb2_grpc
from meshtools.samples import letterboxed
from support.calls import detect, metric_sum, request, scrape
from support.ports import free_port
from support.services import start_aggregator

# Cases that are already 640x480 frames; the others are photos shrunk into one.
FRAME_CASES = ("frame-of-three", "frame-small-faces")
MESH_CASES = [
    (case, people) for case, people in CASES if case != "obama3"
]  # obama3's face is tiny in 640x480


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory, default_gallery: Gallery) -> Path:
    root = tmp_path_factory.mktemp("recognition-mesh")
    publish(root, default_gallery)
    (root / "robots.txt").write_text(ROBOT_TOKEN + "\n")
    (root / "robot-token.txt").write_text(ROBOT_TOKEN + "\n")
    return root


@pytest.fixture(scope="module")
def recognition(store_root: Path, recognition_dir: Path) -> Iterator[ServiceHandle]:
    # The robots' tokens guard Detect (the aggregator sends one); operators' tokens guard Gallery.
    handle = start_recognition(
        store_root, recognition_dir, "--auth-tokens-file", str(store_root / "robots.txt")
    )
    yield handle
    handle.stop(0)


def aggregator(face: ServiceHandle, recognition_addr: str, root: Path, *extra: str) -> ServiceHandle:
    return start_aggregator(
        f"127.0.0.1:{face.port}",
        "",
        "--recognition-addr",
        recognition_addr,
        "--backend-token-file",
        str(root / "robot-token.txt"),
        *extra,
    )


@pytest.fixture(scope="module")
def mesh(
    face_service: ServiceHandle, recognition: ServiceHandle, store_root: Path
) -> Iterator[ServiceHandle]:
    handle = aggregator(face_service, f"127.0.0.1:{recognition.port}", store_root)
    yield handle
    handle.stop(0)


def case_frame(case: str, photos, boxes) -> tuple[bytes, dict[str, tuple[float, float, float, float]]]:
    """The case as the JPEG a robot would send (640x480), and where each true identity is in it."""
    image, regions = build_case(case, photos, boxes)
    if case in FRAME_CASES:
        return encode_jpeg(image, 50), regions
    frame = letterboxed(image)
    scale = min(640 / image.shape[1], 480 / image.shape[0])
    dx, dy = (640 - round(image.shape[1] * scale)) // 2, (480 - round(image.shape[0] * scale)) // 2
    moved = {
        n: (x1 * scale + dx, y1 * scale + dy, x2 * scale + dx, y2 * scale + dy)
        for n, (x1, y1, x2, y2) in regions.items()
    }
    return encode_jpeg(frame, 50), moved


def faces_of(reply) -> list:
    return [d for d in reply.detections if d.engine == "face"]


def box_xyxy(detection) -> np.ndarray:
    b = detection.box
    return np.array([b.x, b.y, b.x + b.width, b.y + b.height], np.float64)


@pytest.mark.parametrize(("case", "people"), MESH_CASES, ids=[c for c, _ in MESH_CASES])
def test_real_photos_named_through_the_mesh(
    case: str, people: set[str], mesh: ServiceHandle, photos, face_boxes, default_gallery: Gallery
) -> None:
    jpeg, regions = case_frame(case, photos, face_boxes)
    reply = detect(mesh.port, jpeg, timeout_s=30)
    statuses = {e.engine: e for e in reply.engines}
    assert statuses["face"].ok and statuses["recognition"].ok, statuses
    assert statuses["recognition"].model_version == default_gallery.version
    named = set()
    for face in faces_of(reply):
        attributes = dict(face.attributes)
        truth = truth_of(box_xyxy(face), regions)
        expected = truth if truth in people else UNKNOWN
        # Never a wrong name: the truth, or unknown.
        assert attributes["identity"] in (expected, UNKNOWN), f"{case}: {truth}'s face called {attributes}"
        if "distance" in attributes:  # embedded: the version that named it is on the box
            assert attributes["gallery_version"] == default_gallery.version
        if attributes["identity"] != UNKNOWN:
            named.add(attributes["identity"])
    assert named == people, f"{case}: named {named}, expected {people}"


def test_recognition_is_off_when_a_request_lists_engines_without_it(
    mesh: ServiceHandle, photos, face_boxes
) -> None:
    jpeg, _ = case_frame("obama2", photos, face_boxes)
    reply = detect(mesh.port, jpeg, engines=["face"], timeout_s=30)
    assert [e.engine for e in reply.engines] == ["face"]
    assert faces_of(reply) and all("identity" not in d.attributes for d in faces_of(reply))
    # Asking for recognition alone brings the face engine it refines.
    reply = detect(mesh.port, jpeg, engines=["recognition"], timeout_s=30)
    assert [e.engine for e in reply.engines] == ["face", "recognition"]
    assert "obama" in {d.attributes["identity"] for d in faces_of(reply)}


def legacy_names(port: int, jpeg: bytes) -> list[str]:
    request = robot_pb2.ObjectDetectionRequest(
        user_id=1, frame=robot_pb2.VideoFrame(number=3, timestamp=42, img=jpeg), wantface=1
    )
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = robot_pb2_grpc.ObjectDetectionStub(channel).ObjectDetect(request, timeout=30)
    return [o.name for o in reply.objects if o.eng == robot_pb2.DetectedObject.FACE]


def test_legacy_robots_get_face_unless_names_are_turned_on(
    mesh: ServiceHandle,
    face_service: ServiceHandle,
    recognition: ServiceHandle,
    store_root: Path,
    photos,
    face_boxes,
) -> None:
    jpeg, _ = case_frame("obama2", photos, face_boxes)
    assert legacy_names(mesh.port, jpeg) == ["face"]
    named = aggregator(face_service, f"127.0.0.1:{recognition.port}", store_root, "--legacy-names", "true")
    try:
        assert legacy_names(named.port, jpeg) == ["obama"]
        stranger, _ = case_frame("astronaut", photos, face_boxes)
        assert set(legacy_names(named.port, stranger)) == {"face"}  # unknown faces keep the old name
    finally:
        named.stop(0)


def test_recognitions_are_counted_by_outcome(
    mesh: ServiceHandle, recognition: ServiceHandle, photos, face_boxes
) -> None:
    jpeg, _ = case_frame("frame-of-three", photos, face_boxes)
    detect(mesh.port, jpeg, timeout_s=30)
    samples = scrape(recognition.metrics_port)
    assert metric_sum(samples, "liquidedge_recognitions_total", outcome="recognised") >= 2
    assert metric_sum(samples, "liquidedge_recognitions_total", outcome="stranger") >= 1
    assert metric_sum(samples, "liquidedge_model_info", engine="recognition") == 1
    refined = metric_sum(scrape(mesh.metrics_port), "liquidedge_refined_boxes_total", outcome="refined")
    assert refined >= 3


def test_robot_tokens_guard_detect_and_operator_tokens_guard_the_gallery(recognition: ServiceHandle) -> None:
    from meshkit import OPERATOR_TOKEN, gallery_call

    from liquidedge.v1 import gallery_pb2

    with pytest.raises(grpc.RpcError) as refused:
        gallery_call(recognition.port, "ListPeople", gallery_pb2.ListPeopleRequest(), token=ROBOT_TOKEN)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    listing = gallery_call(
        recognition.port, "ListPeople", gallery_pb2.ListPeopleRequest(), token=OPERATOR_TOKEN
    )
    assert [(p.name, p.photos) for p in listing.people] == [("biden", 1), ("obama", 1)]
    with (
        grpc.insecure_channel(f"127.0.0.1:{recognition.port}") as channel,
        pytest.raises(grpc.RpcError) as refused,
    ):
        detection_pb2_grpc.DetectorStub(channel).Detect(
            request(b"\xff\xd8"),
            metadata=(("authorization", f"Bearer {OPERATOR_TOKEN}"),),
            timeout=5,
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_recognition_down_the_face_boxes_still_come_back(
    face_service: ServiceHandle, store_root: Path, photos, face_boxes
) -> None:
    down = aggregator(face_service, f"127.0.0.1:{free_port()}", store_root)
    try:
        jpeg, _ = case_frame("obama2", photos, face_boxes)
        reply = detect(down.port, jpeg, timeout_s=30)
        statuses = {e.engine: e for e in reply.engines}
        assert statuses["face"].ok and not statuses["recognition"].ok
        assert statuses["recognition"].code == "UNAVAILABLE" and statuses["recognition"].error
        assert faces_of(reply) and all(d.attributes["identity"] == UNKNOWN for d in faces_of(reply))
    finally:
        down.stop(0)
