"""gRPC mapping for the YOLO service: the legacy `YoloDetection/YoloDetect`.

The v1 `Detector` service is the shared `liquidedge.detector_servicer.DetectorServicer`.
"""

from __future__ import annotations

import grpc

from liquidedge.detector_servicer import DetectorServicer
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.messages import legacy_yolos


class LegacyYoloServicer(robot_pb2_grpc.YoloDetectionServicer):
    def __init__(self, detector: DetectorServicer) -> None:
        self.detector = detector

    def YoloDetect(
        self, request: robot_pb2.YoloDetectionRequest, context: grpc.ServicerContext
    ) -> robot_pb2.YoloDetectionResponse:
        with self.detector.guard(context, "YoloDetect"):
            found = self.detector.run_legacy(request.frame, request.max_results, context)
            return robot_pb2.YoloDetectionResponse(
                number=request.frame.number, timestamp=request.frame.timestamp, yolos=legacy_yolos(found)
            )
