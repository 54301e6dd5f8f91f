"""Past the in-flight limit a frame is refused at once with RESOURCE_EXHAUSTED, not queued."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc

from support.calls import detect, metric_sum, open_channel, scrape, wait_metric
from support.services import start_aggregator, start_face, start_yolo

OK = grpc.StatusCode.OK
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
# One slot, and a batcher that holds a lone frame 1 s (its longest) for company that the slot
# never lets in: a frame stays in flight while the test sends the others, which are refused at once.
ONE_SLOT_HELD = ("--max-in-flight", "1", "--max-batch", "2", "--max-queue-delay-ms", "1000")


def detect_code(where: int | grpc.Channel, jpeg: bytes) -> grpc.StatusCode:
    try:
        detect(where, jpeg, timeout_s=30)
    except grpc.RpcError as error:
        assert error.code() != EXHAUSTED or "busy" in error.details()
        return error.code()
    return OK


def test_a_detector_sheds_what_it_cannot_start(model_dir: str, astronaut_jpeg: bytes) -> None:
    yolo = start_yolo(model_dir, *ONE_SLOT_HELD)
    try:
        with open_channel(yolo.port) as channel, ThreadPoolExecutor(6) as pool:
            held = pool.submit(detect_code, channel, astronaut_jpeg)
            wait_metric(yolo.metrics_port, "liquidedge_frames_in_flight", 1)
            codes = list(pool.map(lambda _: detect_code(channel, astronaut_jpeg), range(5)))
            assert held.result() == OK
        assert codes == [EXHAUSTED] * 5  # every frame that found the slot taken, none queued
        assert metric_sum(scrape(yolo.metrics_port), "liquidedge_shed_frames_total") == 5
        assert detect_code(yolo.port, astronaut_jpeg) == OK  # serving normally afterwards
    finally:
        yolo.stop(0)


def test_the_aggregator_reports_a_shed_engine_and_answers_with_the_other(
    model_dir: str, astronaut_jpeg: bytes
) -> None:
    face = start_face()
    yolo = start_yolo(model_dir, *ONE_SLOT_HELD)
    # Engine calls may take long on a busy machine; what is checked here is shedding, not speed.
    aggregator = start_aggregator(
        f"127.0.0.1:{face.port}", f"127.0.0.1:{yolo.port}", "--engine-timeout-ms", "25000"
    )
    try:
        with open_channel(aggregator.port) as channel, ThreadPoolExecutor(5) as pool:
            held = pool.submit(detect, channel, astronaut_jpeg, timeout_s=30)
            wait_metric(yolo.metrics_port, "liquidedge_frames_in_flight", 1)
            replies = [
                *pool.map(lambda _: detect(channel, astronaut_jpeg, timeout_s=30), range(4)),
                held.result(),
            ]
        yolo_codes = [next(e.code for e in r.engines if e.engine == "yolo") for r in replies]
        assert yolo_codes == ["RESOURCE_EXHAUSTED"] * 4 + ["OK"]
        for reply in replies:  # every frame still has its face
            assert [d.label for d in reply.detections if d.engine == "face"] == ["face"]
    finally:
        aggregator.stop(0)
        yolo.stop(0)
        face.stop(0)
