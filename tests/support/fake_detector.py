"""A detector that answers at once with one fixed box: the aggregator's own ceiling shows.

On a small CPU the real engines take most of a frame's time, so a thread-pool and an asyncio
aggregator look alike behind them. Behind this fake, which neither decodes nor infers, the
aggregator's own work (receiving, fanning out, merging, answering) is what the bench measures.
One fake serves every engine: it answers for whichever engine the request names.

`python -m support.fake_detector --port 50099` serves it as a process of its own.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence

import grpc

from liquidedge.config import EnvDefaultsParser, add_common_flags, check_common
from liquidedge.logs import configure_logging
from liquidedge.server import RunningServer, ServerOptions, ServiceBinding, create_server, wait_for_signal
from liquidedge.service import DETECTOR_SERVICE, server_options
from liquidedge.v1 import detection_pb2, detection_pb2_grpc

log = logging.getLogger(__name__)

# (label, box) each engine reports; the colour is fixed too.
FIXED = {"face": ("face", (218, 47, 118, 118)), "yolo": ("person", (150, 20, 300, 440))}


class FakeDetector(detection_pb2_grpc.DetectorServicer):
    """Answers `Detect` immediately; `hold`, when given, is waited on first (drain tests)."""

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.hold = hold
        self.received = threading.Event()

    def Detect(
        self, request: detection_pb2.DetectRequest, context: grpc.ServicerContext
    ) -> detection_pb2.DetectResponse:
        self.received.set()
        if self.hold is not None:
            self.hold.wait()
        engine = request.engines[0] if request.engines else "yolo"
        label, (x, y, w, h) = FIXED.get(engine, FIXED["yolo"])
        found = detection_pb2.Detection(
            label=label,
            engine=engine,
            confidence=0.9,
            box=detection_pb2.Box(x=x, y=y, width=w, height=h),
            center_color=detection_pb2.Color(r=200, g=170, b=150),
        )
        return detection_pb2.DetectResponse(
            frame_number=request.frame.number,
            capture_time_us=request.frame.capture_time_us,
            source_id=request.frame.source_id,
            detections=[found],
            engines=[detection_pb2.EngineStatus(engine=engine, ok=True, code="OK", detections=1)],
            served_by=detection_pb2.ServedBy(hostname="fake", address="127.0.0.1"),
            image_width=640,
            image_height=480,
        )


def start_fake_detector(
    detector: FakeDetector | None = None, host: str = "127.0.0.1", port: int = 0, workers: int = 32
) -> RunningServer:
    """A SERVING fake on `host:port` (0 picks one); stop it with `.stop(0)`."""
    binding = ServiceBinding(
        detector or FakeDetector(), detection_pb2_grpc.add_DetectorServicer_to_server, DETECTOR_SERVICE
    )
    running = create_server([binding], ServerOptions(host=host, port=port, workers=workers))
    running.set_serving(True)
    return running


def main(argv: Sequence[str] | None = None) -> int:
    parser = EnvDefaultsParser(prog="support.fake_detector", description=__doc__)
    add_common_flags(parser, port=0, metrics_port=-1, max_in_flight=0, workers=64)
    args = parser.parse_args(argv)
    check_common(parser, args)
    configure_logging("fake-detector", args.log_level, args.log_format)
    binding = ServiceBinding(
        FakeDetector(), detection_pb2_grpc.add_DetectorServicer_to_server, DETECTOR_SERVICE
    )
    running = create_server([binding], server_options(args))
    running.set_serving(True)
    log.info("fake detector serving", extra={"port": running.port})
    wait_for_signal()
    running.stop(1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
