"""Past the in-flight limit a frame is refused at once with RESOURCE_EXHAUSTED, not queued."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc

from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from support.calls import detect, metric_sum, scrape
from support.services import start_aggregator, start_face, start_yolo


def detect_code(port: int, jpeg: bytes) -> grpc.StatusCode:
    try:
        detect(port, jpeg, timeout_s=30)
    except grpc.RpcError as error:
        assert error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or "busy" in error.details()
        return error.code()
    return grpc.StatusCode.OK


def test_a_detector_sheds_what_it_cannot_start(model_dir: str, astronaut_jpeg: bytes) -> None:
    yolo = start_yolo(model_dir, "--max-in-flight", "1")
    try:
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: detect_code(yolo.port, astronaut_jpeg), range(8)))
        assert codes.count(grpc.StatusCode.OK) >= 1
        assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 1
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
        shed = metric_sum(scrape(yolo.metrics_port), "liquidedge_shed_frames_total")
        assert shed == codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert detect_code(yolo.port, astronaut_jpeg) == grpc.StatusCode.OK  # serving normally afterwards
    finally:
        yolo.stop(0)


def test_the_aggregator_reports_a_shed_engine_and_answers_with_the_other(
    model_dir: str, astronaut_jpeg: bytes
) -> None:
    face = start_face()
    yolo = start_yolo(model_dir, "--max-in-flight", "1")
    # Engine calls may take long on a busy machine; what is checked here is shedding, not speed.
    aggregator = start_aggregator(
        f"127.0.0.1:{face.port}", f"127.0.0.1:{yolo.port}", "--engine-timeout-ms", "25000"
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{aggregator.port}") as channel:
            stub = detection_pb2_grpc.DetectorStub(channel)
            request = detection_pb2.DetectRequest(frame=detection_pb2.Frame(jpeg=astronaut_jpeg))
            with ThreadPoolExecutor(6) as pool:
                replies = list(pool.map(lambda _: stub.Detect(request, timeout=30), range(6)))
        yolo_codes = [next(e.code for e in r.engines if e.engine == "yolo") for r in replies]
        assert "RESOURCE_EXHAUSTED" in yolo_codes
        for reply in replies:  # every frame still has its face
            assert [d.label for d in reply.detections if d.engine == "face"] == ["face"]
    finally:
        aggregator.stop(0)
        yolo.stop(0)
        face.stop(0)
