"""Cases (b) and (c): real services over gRPC, one channel and one DetectStream per robot.

Services are started by `meshtools.localmesh` (the same launcher `make run` uses), as
their own processes, with enough worker threads and in-flight room for every stream: a
synchronous gRPC server holds one worker per open stream.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator, Sequence

import grpc

from liquidedge.v1 import detection_pb2, detection_pb2_grpc
from meshtools.bench.load import Stream
from meshtools.samples import SampleFrame

_DONE = object()
STREAM_TIMEOUT_S = 600.0


def service_flags(streams: int) -> list[str]:
    """Room for every stream: a worker per open stream, no in-flight refusal."""
    return ["--workers", str(max(16, 2 * streams + 8)), "--max-in-flight", "0"]


class DetectStreamClient:
    """One robot: its own connection, one DetectStream, one frame in flight at a time."""

    def __init__(self, address: str, frames: Sequence[SampleFrame], engines: Sequence[str] = ()) -> None:
        # A local subchannel pool gives each robot its own TCP connection, as real robots have.
        self.channel = grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        self.frames = frames
        self.engines = list(engines)
        self.requests: queue.Queue[object] = queue.Queue()
        stub = detection_pb2_grpc.DetectorStub(self.channel)
        self.responses = stub.DetectStream(self._requests(), timeout=STREAM_TIMEOUT_S)

    def _requests(self) -> Iterator[detection_pb2.DetectRequest]:
        while True:
            item = self.requests.get()
            if item is _DONE:
                return
            yield item  # type: ignore[misc]

    def send(self, index: int) -> detection_pb2.DetectResponse:
        frame = self.frames[index % len(self.frames)]
        self.requests.put(
            detection_pb2.DetectRequest(
                frame=detection_pb2.Frame(number=index, jpeg=frame.jpeg, source_id=f"bench-{frame.name}"),
                engines=self.engines,
            )
        )
        response = next(self.responses)
        if response.frame_number != index:
            raise RuntimeError(f"sent frame {index}, got the answer for frame {response.frame_number}")
        failed = [f"{e.engine}: {e.code} {e.error}" for e in response.engines if not e.ok]
        if failed:
            raise RuntimeError("partial answer: " + "; ".join(failed))
        return response

    def close(self) -> None:
        self.requests.put(_DONE)
        try:
            for _ in self.responses:
                pass
        except grpc.RpcError:
            pass  # the stream already failed; its errors were counted per frame
        self.channel.close()


def grpc_stream(address: str, frames: Sequence[SampleFrame], engines: Sequence[str] = ()) -> Stream:
    client = DetectStreamClient(address, frames, engines)
    return Stream(client.send, client.close)
