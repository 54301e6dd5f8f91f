"""gRPC mapping for the face service: the legacy `FaceDetection/FaceDetect`.

The v1 `Detector` service is the shared `liquidedge.detector_servicer.DetectorServicer`.
"""

from __future__ import annotations

import grpc

from liquidedge.detector_servicer import DetectorServicer
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.messages import legacy_faces


class LegacyFaceServicer(robot_pb2_grpc.FaceDetectionServicer):
    def __init__(self, detector: DetectorServicer) -> None:
        self.detector = detector

    def FaceDetect(
        self, request: robot_pb2.FaceDetectionRequest, context: grpc.ServicerContext
    ) -> robot_pb2.FaceDetectionResponse:
        with self.detector.guard(context, "FaceDetect"):
            found = self.detector.run_legacy(request.frame, request.max_results, context)
            return robot_pb2.FaceDetectionResponse(
                number=request.frame.number, timestamp=request.frame.timestamp, faces=legacy_faces(found)
            )
