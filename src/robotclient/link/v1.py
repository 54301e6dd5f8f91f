"""The v1 transport: one `Detector/DetectStream` call carries frame after frame.

One frame is in flight at a time: the next is sent when the answer arrives. A stream carries
many frames, so an answer later than the per-frame deadline is cut off by cancelling the stream;
the link books that frame as DEADLINE_EXCEEDED and opens a new stream.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc

from liquidedge.messages import detections_from_proto
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from robotclient.link.values import Answer, LinkError, LinkSettings, OutgoingFrame, Wire


def run_stream(wire: Wire) -> None:
    """One stream call: frames until the link stops; raises `LinkError` when the call fails."""
    _Stream(wire).run()


class _Stream:
    """One stream call and the frame in flight on it.

    gRPC pulls requests from `_requests` on its own thread while the link's worker reads the
    answers, so the frame in flight, the deadline miss and the end of the stream are decided
    under one condition: each frame sent is booked once (answered, or failed when the stream
    ends), a frame taken after the end goes back to the mailbox for the next stream, and an
    iterator that outlives its stream can neither send nor cancel anything.
    """

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self._cond = threading.Condition()
        self._in_flight: int | None = None
        self._ended = False
        self._deadline_missed = False
        self._call: grpc.Call | None = None

    def run(self) -> None:
        wire = self.wire
        stub = detection_pb2_grpc.DetectorStub(wire.channel)
        call = stub.DetectStream(self._requests(), wait_for_ready=False, metadata=wire.settings.metadata)
        with self._cond:
            self._call = call
            missed = self._deadline_missed
        if missed:  # the deadline passed before the call object was ours to cancel
            call.cancel()
        try:
            for response in call:
                answer = v1_answer(response, wire.clock.now())
                with self._cond:
                    self._in_flight = None  # from here on, a deadline check finds it answered
                wire.deliver(answer)
                with self._cond:
                    self._cond.notify_all()  # only now the next frame: booked answers come first
        except grpc.RpcError as error:
            number, missed = self._end()
            if missed and error.code() is grpc.StatusCode.CANCELLED:
                raise LinkError(
                    number, grpc.StatusCode.DEADLINE_EXCEEDED, "no answer within the per-frame deadline"
                ) from error
            raise LinkError.from_rpc(error, number) from error
        finally:
            self._end()

    def _requests(self) -> Iterator[detection_pb2.DetectRequest]:
        wire = self.wire
        while not self._ended and not wire.stopping.is_set():
            frame = wire.next_frame()
            if frame is None:
                continue
            if not self._claim(frame.number):
                # gRPC may ask a dead stream's iterator for one more request: the next stream sends it.
                wire.mailbox.put_back(frame)
                return
            wire.sent()
            yield v1_request(frame, wire.settings)
            if not self._await_answer(frame.number):
                with self._cond:
                    call = self._call
                if call is not None:
                    call.cancel()
                return

    def _claim(self, number: int) -> bool:
        with self._cond:
            if self._ended:
                return False
            self._in_flight = number
            return True

    def _await_answer(self, number: int) -> bool:
        """False when the per-frame deadline passed with the frame still unanswered on a live stream."""
        with self._cond:
            settled = self._cond.wait_for(
                lambda: self._in_flight != number or self._ended, self.wire.settings.deadline_s
            )
            if settled or self.wire.stopping.is_set():
                return True
            self._deadline_missed = True
            return False

    def _end(self) -> tuple[int | None, bool]:
        """End the stream once: the frame still in flight (to book as failed) and whether it was late."""
        with self._cond:
            self._ended = True
            number, self._in_flight = self._in_flight, None
            self._cond.notify_all()
            return number, self._deadline_missed


def v1_request(frame: OutgoingFrame, settings: LinkSettings) -> detection_pb2.DetectRequest:
    return detection_pb2.DetectRequest(
        frame=detection_pb2.Frame(
            number=frame.number,
            capture_time_us=round(frame.capture_time_s * 1e6),
            jpeg=frame.jpeg,
            source_id=settings.source_id,
        ),
        engines=list(settings.engines),
        max_results=settings.max_results,
        min_confidence=settings.min_confidence,
        classes=list(settings.classes),
        deadline_ms=round(settings.deadline_s * 1000),
    )


def v1_answer(response: detection_pb2.DetectResponse, received_s: float) -> Answer:
    capture = response.capture_time_us / 1e6
    return Answer(
        frame_number=response.frame_number,
        capture_time_s=capture,
        received_s=received_s,
        rtt_s=received_s - capture,
        detections=detections_from_proto(response.detections),
        served_by_host=response.served_by.hostname,
        served_by_address=response.served_by.address,
        engines={e.engine: (e.ok, e.latency_ms) for e in response.engines},
    )
