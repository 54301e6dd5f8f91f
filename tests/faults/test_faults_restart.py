"""Restarting the aggregator under a streaming robot: SIGTERM, then the same command again.

What a rolling update or a crash-loop restart does to the robot: the old process drains (its
open stream is still answered until the shutdown grace runs out), the stream breaks, the robot
sees UNAVAILABLE while nothing listens, reopens its stream with backoff, and resumes as soon as
the new process serves.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

from faults.fault_mesh import MeshFactory
from faults.fault_report import figure
from faults.fault_robot import LockstepRobot, max_gap_s
from liquidedge.lockstep import LOST, Outcome
from meshtools.samples import SampleFrame

# Generous: CI is a 2-core machine and this is about behaviour (bounded), not speed.
OUTAGE_LIMIT_S = 10.0
EXIT_TIMEOUT_S = 15.0
# What a robot may see while the aggregator is away: refused, cut off, or no answer in time.
OUTAGE_CODES = {"UNAVAILABLE", "CANCELLED", LOST}


def answered(result: Outcome) -> bool:
    return result.answered


def test_restarting_the_aggregator_costs_a_bounded_outage_and_the_robot_resumes(
    mesh_factory: MeshFactory, topology: str, frames: dict[str, SampleFrame]
) -> None:
    """SIGTERM the aggregator mid-stream, wait for it to exit, start it again on the same address.
    The robot sees: answers while the old process drains, then UNAVAILABLE (or a cut stream) for
    the gap, then answers again on a new stream; the outage (longest spell without an answer) is
    under 10 s, and the aggregator exits 0 (a graceful drain, not a kill)."""
    mesh = mesh_factory()
    edge = mesh.services["edge"]
    with LockstepRobot(mesh.edge, frames["astronaut"].jpeg) as robot:
        robot.wait_for(5, answered, timeout_s=30)
        stopped_at = time.monotonic()
        edge.signal(signal.SIGTERM)
        assert edge.process is not None
        exit_code = edge.process.wait(EXIT_TIMEOUT_S)
        exited_at = time.monotonic()
        startup_s = mesh.start_aggregator()
        serving_at = time.monotonic()
        robot.wait_for(5, lambda r: answered(r) and r.sent_s > serving_at, timeout_s=30)
    ended_at = time.monotonic()
    results = robot.results
    during = [r for r in results if r.done_s > stopped_at]
    drained = [r for r in during if answered(r) and r.done_s <= exited_at]
    failures = Counter(r.code for r in during if not answered(r))
    first_back = min(r.done_s for r in during if answered(r) and r.sent_s > exited_at)
    outage = max_gap_s(results, answered, stopped_at, ended_at)
    streams = len({r.stream for r in results})
    figure(
        "restart-aggregator",
        topology,
        f"drain {exited_at - stopped_at:.2f} s (exit {exit_code}, {len(drained)} frames answered while "
        f"draining), restart to SERVING {startup_s:.2f} s; robot outage {outage:.2f} s "
        f"(first answer {first_back - exited_at:.2f} s after the old process exited); "
        f"failures {dict(failures)}; streams opened {streams}",
    )
    assert exit_code == 0
    assert outage < OUTAGE_LIMIT_S, outage
    assert set(failures) <= OUTAGE_CODES, dict(failures)
    assert streams >= 2, "the robot should have reopened its stream"
