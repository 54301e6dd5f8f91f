"""The link's books under contention: every outcome booked once, every outage counted once."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator

import grpc
import pytest

from liquidedge.detections import Detections
from robotclient.clock import ManualClock
from robotclient.link import Answer, LinkLedger

THREADS = 8
CALLS_PER_THREAD = 400


def answer(number: int) -> Answer:
    return Answer(number, 0.0, 0.0, 0.0, Detections.empty(), "edge-a", "10.0.0.7", {})


@pytest.fixture
def eager_thread_switches() -> Iterator[None]:
    """Switch threads as often as the interpreter allows, so unlocked check-then-act code loses."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_outages_and_outcomes_under_contention(
    eager_thread_switches: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="robotclient.link.ledger")
    ledger = LinkLedger("mesh:50051", ManualClock(), outage_after_timeouts=1)
    start = threading.Barrier(THREADS)

    def book(first: int) -> None:
        start.wait()
        for number in range(first, first + CALLS_PER_THREAD):
            if number % 2:
                ledger.failed(number, grpc.StatusCode.UNAVAILABLE, "down")
            else:
                ledger.answered(answer(number))

    threads = [threading.Thread(target=book, args=(i * CALLS_PER_THREAD,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    total = THREADS * CALLS_PER_THREAD
    assert ledger.stats.answered + ledger.stats.failed == total
    assert ledger.stats.failures_by_code == {"UNAVAILABLE": total // 2}
    began = sum("unreachable" in r.getMessage() for r in caplog.records)
    ended = sum("mesh is back" in r.getMessage() for r in caplog.records)
    # Each outage is counted and reported once, and each one but a current one has ended once.
    assert ledger.stats.outages == began > 0
    assert began == ended + int(ledger.in_outage)


@pytest.mark.parametrize(
    ("codes", "outages", "backs_off"),
    [
        # (codes in a row, outages counted, whether the last one makes the link back off)
        ([grpc.StatusCode.RESOURCE_EXHAUSTED] * 3, 0, False),  # bad frames, not a bad mesh
        ([grpc.StatusCode.INVALID_ARGUMENT], 0, False),
        ([grpc.StatusCode.DEADLINE_EXCEEDED], 0, False),  # one late frame is not an outage
        ([grpc.StatusCode.DEADLINE_EXCEEDED] * 2, 1, True),  # two in a row are
        ([grpc.StatusCode.UNAVAILABLE] * 3, 1, True),  # one outage however long it lasts
    ],
)
def test_which_failures_are_outages(codes: list[grpc.StatusCode], outages: int, backs_off: bool) -> None:
    ledger = LinkLedger("mesh:50051", ManualClock(), outage_after_timeouts=2)
    results = [ledger.failed(number, code, "") for number, code in enumerate(codes, 1)]
    assert results[-1] is backs_off
    assert ledger.stats.outages == outages and ledger.in_outage is bool(outages)
    ledger.answered(answer(99))
    assert not ledger.in_outage
