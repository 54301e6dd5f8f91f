"""Bugs the fuzzers found, kept as deterministic regression tests of the documented behaviour.

Both were found by test_fuzz_services.py (deadline_ms 1..50) and pinned here with
xfail(strict=True) until cf3917d fixed them:

1. the aggregator answered a per-frame budget too short for its engines with UNAVAILABLE
   ("every requested engine failed: face: DEADLINE_EXCEEDED (no time left for the engine); ...");
2. the YOLO detector answered a frame whose deadline passed in its batch queue with INTERNAL
   ("internal error: DeadlineExpiredError: deadline passed after 300.2 ms in the batch queue").

A new bug goes here the same way: the expected behaviour, xfail(strict=True) with the precise
symptom as the reason, until the fix lands.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from jpeg_strategies import real_jpegs

from liquidedge.service import ServiceHandle
from liquidedge.v1 import detection_pb2
from support.calls import detect_or_error
from support.services import start_yolo


def detect(port: int, **fields: object) -> grpc.RpcError | detection_pb2.DetectResponse:
    return detect_or_error(port, real_jpegs()[0], **fields)


@pytest.mark.parametrize("deadline_ms", [1, 3])
def test_aggregator_answers_a_spent_frame_budget_with_deadline_exceeded(
    aggregator_service: ServiceHandle, deadline_ms: int
) -> None:
    answer = detect(aggregator_service.port, deadline_ms=deadline_ms)
    assert isinstance(answer, grpc.RpcError), "a frame with no time for its engines cannot be answered"
    assert answer.code() == grpc.StatusCode.DEADLINE_EXCEEDED, answer.details()


@pytest.fixture(scope="module")
def batching_yolo(model_dir: str) -> Iterator[ServiceHandle]:
    """A YOLO detector whose batcher holds a lone frame for 300 ms waiting for company."""
    handle = start_yolo(model_dir, "--max-batch", "4", "--max-queue-delay-ms", "300")
    yield handle
    handle.stop(0)


def test_yolo_frame_expiring_in_the_batch_queue_is_deadline_exceeded(batching_yolo: ServiceHandle) -> None:
    answer = detect(batching_yolo.port, deadline_ms=100)
    assert isinstance(answer, grpc.RpcError), "the 300 ms batch window outlives the 100 ms budget"
    assert answer.code() == grpc.StatusCode.DEADLINE_EXCEEDED, answer.details()
