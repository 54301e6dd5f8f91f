"""What the robot client's tests share: a fake mesh, a running robot, frames and answers.

(Waiting for a condition: `support.waiting`.)

The fake mesh is real gRPC on loopback with scripted answers. It speaks both protocols, answers
after a fixed delay with fixed boxes and fixed engine latencies (so a benchmark's summary has
known numbers), can refuse chosen frames with a status code, counts the streams opened, and can
be stopped and restarted on the same port (the kill-the-mesh test).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import grpc
import numpy as np

from liquidedge.detections import Detections
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from robotclient.behavior import BehaviorSettings, State
from robotclient.clock import Clock, MonotonicClock
from robotclient.drivers.base import NoopDriver
from robotclient.identity import IDENTITY, UNKNOWN
from robotclient.link import LinkSettings, MeshLink
from robotclient.pilot import Pilot, PilotSettings
from robotclient.runtime import RobotRuntime, RuntimeSettings
from robotclient.sources import FrameSource
from robotclient.values import Twist

BOX = detection_pb2.Box(x=280, y=120, width=80, height=200)
ENGINE_LATENCY_MS = {"face": 7.5, "yolo": 21.0}


@dataclass
class Script:
    """What the fake does. Mutable on purpose: a test changes it between phases."""

    delay_s: float = 0.0
    # frame number -> status code to refuse it with
    refuse: dict[int, grpc.StatusCode] = field(default_factory=dict)
    # frames whose answer never comes (a hung mesh)
    hang: set[int] = field(default_factory=set)
    boxes: Callable[[int], list[detection_pb2.Detection]] = lambda number: [
        detection_pb2.Detection(
            label="person",
            engine="yolo",
            confidence=0.9,
            box=BOX,
            center_color=detection_pb2.Color(r=10, g=20, b=30),
        )
    ]


class FakeDetector(detection_pb2_grpc.DetectorServicer, robot_pb2_grpc.ObjectDetectionServicer):
    def __init__(self, script: Script, hostname: str) -> None:
        self.script = script
        self.hostname = hostname
        self.seen: list[int] = []
        self.streams = 0
        self.metadata: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def _answer(
        self, request: detection_pb2.DetectRequest, context: grpc.ServicerContext
    ) -> detection_pb2.DetectResponse:
        number = request.frame.number
        with self.lock:
            self.seen.append(number)
            self.metadata.append(dict(context.invocation_metadata()))
        if number in self.script.hang:
            ended = threading.Event()
            if context.add_callback(ended.set):  # False: the call has already ended
                ended.wait(30.0)
            context.abort(grpc.StatusCode.CANCELLED, "hung")
        if number in self.script.refuse:
            context.abort(self.script.refuse[number], f"frame {number} refused by the fake")
        time.sleep(self.script.delay_s)
        return detection_pb2.DetectResponse(
            frame_number=number,
            capture_time_us=request.frame.capture_time_us,
            source_id=request.frame.source_id,
            detections=self.script.boxes(number),
            engines=[
                detection_pb2.EngineStatus(engine=name, ok=True, code="OK", latency_ms=ms)
                for name, ms in ENGINE_LATENCY_MS.items()
            ],
            served_by=detection_pb2.ServedBy(hostname=self.hostname, address="10.0.0.7"),
            image_width=640,
            image_height=480,
        )

    def Detect(self, request, context):
        return self._answer(request, context)

    def DetectStream(self, request_iterator, context) -> Iterator[detection_pb2.DetectResponse]:
        with self.lock:
            self.streams += 1
        for request in request_iterator:
            yield self._answer(request, context)

    def ObjectDetect(self, request, context):
        v1 = detection_pb2.DetectRequest(
            frame=detection_pb2.Frame(number=request.frame.number, capture_time_us=request.frame.timestamp)
        )
        answer = self._answer(v1, context)
        return robot_pb2.ObjectDetectionResponse(
            number=answer.frame_number,
            timestamp=answer.capture_time_us,
            objects=[
                robot_pb2.DetectedObject(
                    name=d.label,
                    eng=robot_pb2.DetectedObject.YOLO
                    if d.engine == "yolo"
                    else robot_pb2.DetectedObject.FACE,
                    confidence=d.confidence,
                    x=d.box.x,
                    y=d.box.y,
                    w=d.box.width,
                    h=d.box.height,
                    r=d.center_color.r,
                    g=d.center_color.g,
                    b=d.center_color.b,
                )
                for d in answer.detections
            ],
            ipv4=0x0A000007,
            name=self.hostname,
        )


class FakeMesh:
    """A fake aggregator on 127.0.0.1; `stop()` then `start()` reuses the same port."""

    def __init__(self, script: Script | None = None, hostname: str = "edge-a") -> None:
        self.script = script or Script()
        self.servicer = FakeDetector(self.script, hostname)
        self.port = 0
        self._server: grpc.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FakeMesh:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        detection_pb2_grpc.add_DetectorServicer_to_server(self.servicer, server)
        robot_pb2_grpc.add_ObjectDetectionServicer_to_server(self.servicer, server)
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(0).wait()
            self._server = None


class StillCamera(FrameSource):
    """The same picture forever (the fake mesh does not look at it anyway)."""

    def __init__(self, image: np.ndarray, clock: Clock) -> None:
        super().__init__(clock)
        self.image = image

    def _grab(self) -> np.ndarray | None:
        return self.image


class RecordingDriver(NoopDriver):
    """The no-op driver that also keeps every command, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.twists: list[Twist] = []

    def drive(self, twist: Twist) -> None:
        super().drive(twist)
        self.twists.append(twist)


class Running:
    """A runtime on its own thread, against `address`, with a recording no-op driver to watch."""

    def __init__(
        self,
        address: str,
        image: np.ndarray,
        labels: tuple[str, ...] = ("person",),
        follow: str | None = None,
    ) -> None:
        clock = MonotonicClock()
        self.driver = RecordingDriver()
        self.link = MeshLink(
            LinkSettings(address=address, deadline_s=3.0, backoff_initial_s=0.05, backoff_max_s=0.25), clock
        ).start()
        self.runtime = RobotRuntime(
            source=StillCamera(image, clock),
            link=self.link,
            pilot=Pilot(
                PilotSettings(behavior=BehaviorSettings(wakeup_s=0.1), target_labels=labels, follow=follow),
                clock,
            ),
            driver=self.driver,
            clock=clock,
            settings=RuntimeSettings(mesh_silence_s=0.5, max_fps=20.0),
        )
        self.thread = threading.Thread(target=self.runtime.run, daemon=True)
        self.thread.start()

    def state(self) -> State | None:
        step = self.runtime.last_step
        return step.decision.state if step is not None else None

    def pilot_states(self) -> set[State]:
        """Every state the behaviour machine has been in lately."""
        return {state for _, state in list(self.runtime.pilot.behavior.history)}

    def close(self) -> None:
        self.runtime.stop()
        self.thread.join(5.0)
        self.link.stop()


def write_frames(folder: Path, count: int, size_wh: tuple[int, int] = (640, 480), level: int = 60) -> Path:
    """`count` plain grey JPEG frames in `folder` (created), for `--source FOLDER`."""
    folder.mkdir(parents=True, exist_ok=True)
    width, height = size_wh
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), np.full((height, width, 3), level, np.uint8))
    return folder


Box = tuple[str, tuple[float, float, float, float]] | tuple[str, tuple[float, float, float, float], str]


def scene(*boxes: Box, color: tuple[int, int, int] = (100, 100, 100)) -> Detections:
    """One answer as the robot decodes it: (label, xyxy) or (label, xyxy, identity) per box.

    With any identity given, every face has one ("unknown" where none was given), as the mesh
    sends them with recognition on; person boxes have none.
    """
    n = len(boxes)
    data = {}
    if any(len(box) == 3 for box in boxes):
        data[IDENTITY] = [
            box[2] if len(box) == 3 else (UNKNOWN if box[0] == "face" else None)  # type: ignore[misc]
            for box in boxes
        ]
    return Detections(
        xyxy=np.array([box[1] for box in boxes], np.float32).reshape(n, 4),
        confidence=np.full(n, 0.9),
        label=[box[0] for box in boxes],
        engine=["face" if box[0] == "face" else "yolo" for box in boxes],
        color_rgb=np.tile(np.array(color, np.uint8), (n, 1)),
        data=data,
    )


def detection(
    label: str,
    xyxy: tuple[int, int, int, int],
    color: tuple[int, int, int] = (10, 20, 30),
    **attributes: object,
) -> detection_pb2.Detection:
    """One v1 detection as the mesh sends it, with attributes (e.g. identity="obama") when given."""
    x1, y1, x2, y2 = xyxy
    found = detection_pb2.Detection(
        label=label,
        engine="face" if label == "face" else "yolo",
        confidence=0.9,
        box=detection_pb2.Box(x=x1, y=y1, width=x2 - x1, height=y2 - y1),
        center_color=detection_pb2.Color(r=color[0], g=color[1], b=color[2]),
    )
    if attributes:
        found.attributes.update(attributes)
    return found
