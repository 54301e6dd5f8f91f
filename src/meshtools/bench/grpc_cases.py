"""Cases (b) and (c): real services over gRPC, one channel and one DetectStream per robot.

Services are started by `meshtools.localmesh` (the same launcher `make run` uses), as
their own processes, with enough worker threads and in-flight room for every stream: a
detector's thread-pool gRPC server holds one worker per open stream. Each robot is the runtime's
lock-step client, as in every other tool.
"""

from __future__ import annotations

from collections.abc import Sequence

from liquidedge.lockstep import FrameOptions, LockstepClient
from liquidedge.v1 import detection_pb2
from meshtools.bench.load import Stream
from meshtools.samples import SampleFrame

# A local subchannel pool gives each robot its own TCP connection, as real robots have.
OWN_CONNECTION = (("grpc.use_local_subchannel_pool", 1),)


NO_SHEDDING = ["--max-in-flight", "0"]


def service_flags(streams: int) -> list[str]:
    """A detector's room for every stream: a worker per open stream, no in-flight refusal.

    The asyncio aggregator has no worker threads: it takes `NO_SHEDDING` alone.
    """
    return ["--workers", str(max(16, 2 * streams + 8)), *NO_SHEDDING]


def grpc_stream(
    address: str, frames: Sequence[SampleFrame], engines: Sequence[str] = (), source_id: str = ""
) -> Stream:
    """One robot on its own connection; a frame that fails or comes back partial raises.

    `source_id`: the robot's name on every frame (what per-source state such as recognition's
    face tracks needs); by default each frame is named after its picture.
    """
    options = FrameOptions(source_id="bench", engines=tuple(engines))
    client = LockstepClient.to(address, channel_options=OWN_CONNECTION, options=options)

    def send(index: int) -> detection_pb2.DetectResponse:
        frame = frames[index % len(frames)]
        outcome = client.send(frame.jpeg, number=index, source_id=source_id or f"bench-{frame.name}")
        if not outcome.answered:
            raise RuntimeError(f"{outcome.code}: {outcome.details}")
        if outcome.partial:
            raise RuntimeError("partial answer: " + ", ".join(outcome.partial))
        return outcome.reply

    return Stream(send, client.close)
