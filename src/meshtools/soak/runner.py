"""Run a soak: bring up (or target) the mesh, warm it up, drive the load phases, stop, measure.

Phases let one run show the mesh at the load it can serve and beyond: `ramp=(1, 2)` runs
`streams` robots for the first half of the time and twice as many for the second, so the
report shows whether admitted frames keep their latency while the excess is shed. Warm-up
traffic (model caches, thread pools, allocator arenas) is excluded from the figures, and the
memory baseline is taken at its end. Everything is bounded in time and stays on loopback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from meshtools.localmesh import LocalMesh
from meshtools.soak.memory import RssSampler
from meshtools.soak.report import WARMUP, PhaseSpan, memory_figures, summarise
from meshtools.soak.traffic import PhaseBoard, Recorder, Robot, RobotSettings

log = logging.getLogger(__name__)

# How long robots get to finish the frame they have in flight once the run ends.
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class SoakConfig:
    """Everything a run needs; the CLI builds one from its flags."""

    seconds: float = 60.0
    streams: int = 8
    ramp: tuple[float, ...] = (1.0,)
    warmup_s: float = 10.0
    mode: str = "stream"
    deadline_ms: int = 2000
    fps: float = 30.0
    target: str | None = None
    model_dir: str = "models"
    service_args: Mapping[str, Sequence[str]] = field(default_factory=dict)
    watch_pids: Mapping[str, int] = field(default_factory=dict)
    sample_interval_s: float = 1.0
    mesh_start_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.warmup_s < 0:
            raise ValueError("seconds must be > 0 and warmup_s >= 0")
        if self.streams < 1 or not self.ramp or any(step <= 0 for step in self.ramp):
            raise ValueError("streams must be >= 1 and every ramp step > 0")
        if self.fps < 0:
            raise ValueError("fps must be >= 0 (0 = flat out)")
        if self.deadline_ms < 1:
            raise ValueError("deadline_ms must be >= 1")

    def streams_in(self, step: float) -> int:
        return max(1, round(self.streams * step))

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "streams": self.streams,
            "ramp": list(self.ramp),
            "warmup_s": self.warmup_s,
            "mode": self.mode,
            "deadline_ms": self.deadline_ms,
            "fps_per_robot": self.fps,
            "target": self.target or "local mesh (processes on 127.0.0.1)",
            "service_args": {name: list(args) for name, args in self.service_args.items()},
        }


@dataclass
class _Fleet:
    """The robots of a run; grown or shrunk at each phase boundary."""

    address: str
    settings: RobotSettings
    recorder: Recorder
    board: PhaseBoard
    robots: list[Robot] = field(default_factory=list)
    retired: list[Robot] = field(default_factory=list)

    def resize(self, count: int) -> None:
        while len(self.robots) < count:
            robot = Robot(
                len(self.robots) + len(self.retired), self.address, self.settings, self.recorder, self.board
            )
            robot.start()
            self.robots.append(robot)
        while len(self.robots) > count:
            robot = self.robots.pop()
            robot.stop()
            self.retired.append(robot)

    def stop(self, grace_s: float) -> list[str]:
        everyone = [*self.robots, *self.retired]
        for robot in everyone:
            robot.stop()
        deadline = time.monotonic() + grace_s
        for robot in everyone:
            robot.join(max(0.0, deadline - time.monotonic()))
        return [f"{r.name}: {r.error}" for r in everyone if r.error]


def run_soak(config: SoakConfig, frames: Sequence[bytes]) -> dict[str, Any]:
    """Run the whole soak and return the report (see `report.summarise` for its fields)."""
    if not frames:
        raise ValueError("need at least one frame to send")
    with ExitStack() as stack:
        mesh: LocalMesh | None = None
        if config.target:
            address, pids = config.target, dict(config.watch_pids)
        else:
            mesh = LocalMesh(
                model_dir=config.model_dir, extra_args={k: list(v) for k, v in config.service_args.items()}
            )
            log.info("starting the local mesh")
            mesh.start(config.mesh_start_timeout_s)  # stops what it started if a service fails
            stack.callback(mesh.stop)
            address = mesh.address
            pids = {name: s.process.pid for name, s in mesh.services.items() if s.process is not None}
            pids.update(config.watch_pids)
        return _drive(config, frames, address, pids, mesh)
    raise AssertionError("unreachable")  # ExitStack does not swallow exceptions


def _drive(
    config: SoakConfig, frames: Sequence[bytes], address: str, pids: Mapping[str, int], mesh: LocalMesh | None
) -> dict[str, Any]:
    recorder = Recorder()
    board = PhaseBoard()
    fleet = _Fleet(
        address, RobotSettings(config.mode, config.deadline_ms, tuple(frames), config.fps), recorder, board
    )
    sampler = RssSampler(pids, config.sample_interval_s).start()
    spans: list[PhaseSpan] = []
    warm_index: dict[str, int] = {}
    try:
        # Warm up at the heaviest step, so pools and allocator arenas reach the size the run needs
        # before the memory baseline is taken.
        heaviest = config.streams_in(max(config.ramp))
        plan = [(WARMUP, heaviest, config.warmup_s)] if config.warmup_s else []
        phase_s = config.seconds / len(config.ramp)
        plan += [(i, config.streams_in(step), phase_s) for i, step in enumerate(config.ramp)]
        for index, streams, seconds in plan:
            if index != WARMUP and not warm_index:
                sampler.sample_now()  # the memory baseline: the mesh as it is after warm-up
                warm_index = {name: len(series) - 1 for name, series in sampler.samples.items()}
            board.current = index
            fleet.resize(streams)
            started = recorder.now_s()
            log.info("phase %s: %d streams for %.0f s", index, streams, seconds)
            time.sleep(seconds)
            spans.append(PhaseSpan(index, streams, started, recorder.now_s()))
    finally:
        robot_errors = fleet.stop(STOP_GRACE_S)
        series = sampler.stop()
    alive = {}
    if mesh is not None:
        alive = {name: service.running() for name, service in mesh.services.items()}
    memory = {
        name: memory_figures(series.get(name, []), warm_index.get(name, 0), alive.get(name), pid)
        for name, pid in pids.items()
    }
    sent_by_phase, records = recorder.snapshot()
    report = summarise(spans, sent_by_phase, records, memory, {**config.to_json(), "address": address})
    report["checks"]["robot_errors"] = robot_errors
    return report
