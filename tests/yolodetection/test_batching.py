"""Dynamic batching: gathering, answer routing, deadlines, back-pressure, shutdown.

The fake engine labels each answer with the id painted into its image and records the
batches it was given; a gate lets a test hold the worker inside one batch while it queues
more, so batch composition is deterministic (no sleeps, no timed assertions).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from liquidedge.detections import Detections
from liquidedge.errors import OverloadedError
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from meshtools.samples import SampleFrame
from support.services import start_yolo
from yolodetection.backends.opencv_dnn import OpenCVBackend
from yolodetection.batching import (
    BatcherClosedError,
    BatchingSettings,
    DeadlineExpiredError,
    DynamicBatcher,
)
from yolodetection.engine import YoloEngine, YoloSettings
from yolodetection.model_files import ModelFiles


def image(ident: int) -> np.ndarray:
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[0, 0, 0] = ident
    return frame


def ident_of(found: Detections) -> int:
    return int(found.label[0])


class FakeEngine:
    """Answers each image with one box labelled by the id in its first pixel."""

    name = "yolo"
    labels = ("anything",)

    def __init__(self, hold_first: bool = False, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.fail = fail

    def detect_batch(self, images_bgr: Sequence[np.ndarray]) -> list[Detections]:
        ids = [int(img[0, 0, 0]) for img in images_bgr]
        self.batches.append(ids)
        self.entered.set()
        self.release.wait(10)
        if self.fail:
            raise RuntimeError("model exploded")
        return [
            Detections(xyxy=[[0, 0, 1, 1]], confidence=[0.9], label=[str(i)], engine=["yolo"]) for i in ids
        ]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def held() -> Iterator[tuple[FakeEngine, DynamicBatcher]]:
    """A batcher whose worker is stuck inside a first batch holding image 0."""
    engine = FakeEngine(hold_first=True)
    batcher = DynamicBatcher(engine, BatchingSettings(max_batch=4, max_queue_delay_ms=50, max_queue=8))
    first = batcher.submit(image(0))
    assert engine.entered.wait(10)
    yield engine, batcher
    engine.release.set()
    assert ident_of(first.result(10)) == 0
    batcher.close()


def test_waiting_requests_are_gathered_up_to_max_batch(held: tuple[FakeEngine, DynamicBatcher]) -> None:
    engine, batcher = held
    futures = [batcher.submit(image(i)) for i in range(1, 9)]
    engine.release.set()
    assert [ident_of(f.result(10)) for f in futures] == list(range(1, 9))
    assert engine.batches == [[0], [1, 2, 3, 4], [5, 6, 7, 8]]
    stats = batcher.stats()
    assert (stats.batches, stats.frames, stats.largest_batch) == (3, 9, 4)


def test_max_batch_one_runs_every_request_alone() -> None:
    engine = FakeEngine()
    with DynamicBatcher(engine, BatchingSettings(max_batch=1, max_queue_delay_ms=0)) as batcher:
        answers = [batcher.detect(image(i)) for i in range(3)]
    assert [ident_of(a) for a in answers] == [0, 1, 2]
    assert engine.batches == [[0], [1], [2]]


def test_concurrent_callers_each_get_their_own_answer() -> None:
    engine = FakeEngine()
    settings = BatchingSettings(max_batch=8, max_queue_delay_ms=5)
    with DynamicBatcher(engine, settings) as batcher, ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda i: ident_of(batcher.detect(image(i))), range(200)))
    assert answers == list(range(200))
    assert sorted(i for batch in engine.batches for i in batch) == list(range(200))


def test_expired_request_is_answered_without_running_it() -> None:
    clock = FakeClock()
    engine = FakeEngine(hold_first=True)
    settings = BatchingSettings(max_batch=4, max_queue_delay_ms=0)
    with DynamicBatcher(engine, settings, clock=clock) as batcher:
        first = batcher.submit(image(0))
        assert engine.entered.wait(10)
        late = batcher.submit(image(1), deadline=clock.now + 0.5)
        in_time = batcher.submit(image(2), deadline=clock.now + 5.0)
        clock.now += 1.0  # request 1 waited past its deadline behind the running batch
        engine.release.set()
        with pytest.raises(DeadlineExpiredError, match="deadline passed"):
            late.result(10)
        assert ident_of(in_time.result(10)) == 2
        assert ident_of(first.result(10)) == 0
    assert engine.batches == [[0], [2]]
    assert batcher.stats().expired == 1


def test_a_lone_frame_is_not_held_past_its_deadline_waiting_for_company() -> None:
    engine = FakeEngine()
    with DynamicBatcher(engine, BatchingSettings(max_batch=4, max_queue_delay_ms=1000)) as batcher:
        lone = batcher.submit(image(5), deadline=time.monotonic() + 0.05)
        # The 1 s gathering window closes at the frame's deadline instead: it is answered
        # (as expired, or run) long before the window would have ended.
        try:
            answer = lone.result(timeout=0.8)
        except DeadlineExpiredError:
            return
        assert ident_of(answer) == 5


def test_cancelled_request_costs_no_model_time(held: tuple[FakeEngine, DynamicBatcher]) -> None:
    engine, batcher = held
    gone = batcher.submit(image(1))
    kept = batcher.submit(image(2))
    assert gone.cancel()
    engine.release.set()
    assert ident_of(kept.result(10)) == 2
    assert engine.batches == [[0], [2]]


def test_full_queue_refuses_with_overloaded(held: tuple[FakeEngine, DynamicBatcher]) -> None:
    _, batcher = held
    queued = [batcher.submit(image(i)) for i in range(1, 9)]
    with pytest.raises(OverloadedError, match="8 yolo frames already waiting"):
        batcher.submit(image(9))
    held[0].release.set()
    assert [ident_of(f.result(10)) for f in queued] == list(range(1, 9))


def test_engine_failure_reaches_every_caller_in_the_batch() -> None:
    engine = FakeEngine(fail=True)
    with DynamicBatcher(engine, BatchingSettings(max_batch=4)) as batcher:
        futures = [batcher.submit(image(i)) for i in range(3)]
        for future in futures:
            with pytest.raises(RuntimeError, match="model exploded"):
                future.result(10)


def test_close_finishes_queued_work_then_refuses() -> None:
    engine = FakeEngine()
    batcher = DynamicBatcher(engine, BatchingSettings(max_batch=2))
    futures = [batcher.submit(image(i)) for i in range(5)]
    batcher.close()
    assert [ident_of(f.result(10)) for f in futures] == [0, 1, 2, 3, 4]
    with pytest.raises(BatcherClosedError):
        batcher.submit(image(9))


def test_the_batcher_looks_like_an_engine() -> None:
    with DynamicBatcher(FakeEngine()) as batcher:
        assert batcher.name == "yolo" and batcher.labels == ("anything",)
        assert [ident_of(found) for found in batcher.detect_batch([image(3), image(4)])] == [3, 4]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_batch": 0}, "max_batch must be at least 1"),  # nothing could ever run
        ({"max_queue_delay_ms": -1}, "max_queue_delay_ms must be in"),
        ({"max_queue_delay_ms": 5000}, "max_queue_delay_ms must be in"),  # 5 s is a typo, not a policy
        ({"max_batch": 16, "max_queue": 8}, "max_queue .* must be at least max_batch"),
        ({"workers": 0}, "workers must be at least 1"),
    ],
)
def test_settings_are_validated(kwargs: dict[str, float], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        BatchingSettings(**kwargs)


# The real model -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_engine(model_dir: str) -> YoloEngine:
    files = ModelFiles.in_dir(model_dir)
    backend = OpenCVBackend(files, prefer_cuda=False)
    return YoloEngine(backend, files.class_names(), files.input_size(), YoloSettings(score_threshold=0.2))


def same(a: Detections, b: Detections) -> bool:
    return (
        list(a.label) == list(b.label)
        and np.allclose(a.xyxy, b.xyxy, atol=0.05)
        and np.allclose(a.confidence, b.confidence, atol=1e-4)
        and np.array_equal(a.color_rgb, b.color_rgb)
    )


def test_real_engine_batched_answers_match_unbatched(
    real_engine: YoloEngine, frames: dict[str, SampleFrame]
) -> None:
    images = [frame.image_bgr for frame in frames.values()]
    # Distinct frames: the sample images, plus mirrored copies, several times each.
    images = images + [np.ascontiguousarray(img[:, ::-1]) for img in images]
    expected = [real_engine.detect(img) for img in images]
    assert sum(len(found) for found in expected) > 0, "the sample frames should hold detections"
    order = [i for _ in range(3) for i in range(len(images))]
    settings = BatchingSettings(max_batch=4, max_queue_delay_ms=20)
    with DynamicBatcher(real_engine, settings) as batcher:
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda i: batcher.detect(images[i]), order))
        stats = batcher.stats()
    for i, answer in zip(order, answers, strict=True):
        assert same(answer, expected[i]), f"frame {i} got another frame's answer"
    assert stats.frames == len(order)
    assert stats.largest_batch > 1, "concurrent callers should have been batched"


# The service ------------------------------------------------------------------------------


def v1_request(frame: SampleFrame, number: int) -> detection_pb2.DetectRequest:
    return detection_pb2.DetectRequest(
        frame=detection_pb2.Frame(number=number, jpeg=frame.jpeg, source_id=frame.name)
    )


@pytest.mark.parametrize(
    "flags",
    [
        ("--max-batch", "4", "--max-queue-delay-ms", "20"),  # batching on, the default backend
        ("--max-batch", "4", "--backend", "torch", "--device", "cpu"),  # the torch backend, batched
    ],
)
def test_service_answers_concurrent_frames_each_with_its_own_detections(
    model_dir: str, frames: dict[str, SampleFrame], flags: tuple[str, ...]
) -> None:
    reference = YoloEngine(
        OpenCVBackend(ModelFiles.in_dir(model_dir), prefer_cuda=False),
        ModelFiles.in_dir(model_dir).class_names(),
        ModelFiles.in_dir(model_dir).input_size(),
        YoloSettings(),
    )
    expected = {name: sorted(reference.detect(frame.image_bgr).label) for name, frame in frames.items()}
    assert any(expected.values())
    handle = start_yolo(model_dir, *flags)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
            stub = detection_pb2_grpc.DetectorStub(channel)
            order = [name for _ in range(4) for name in frames]

            def call(i: int) -> tuple[str, list[str]]:
                reply = stub.Detect(v1_request(frames[order[i]], i), timeout=60)
                assert reply.frame_number == i and reply.source_id == order[i]
                return order[i], sorted(d.label for d in reply.detections)

            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(call, range(len(order))))
    finally:
        handle.stop(0)
    for name, labels in answers:
        assert labels == expected[name], name
