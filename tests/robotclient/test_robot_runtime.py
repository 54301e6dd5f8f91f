"""The real-time loop: kill the mesh while it runs, and the robot stops, reports, and resumes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from robot_fakes import FakeMesh

from meshtools.localmesh import LocalMesh, wait_serving
from robotclient.behavior import BehaviorSettings, Command, State
from robotclient.clock import Clock, MonotonicClock
from robotclient.drivers.base import NoopDriver
from robotclient.link import LinkSettings, MeshLink
from robotclient.pilot import Pilot, PilotSettings
from robotclient.runtime import RobotRuntime, RuntimeSettings, status_line
from robotclient.sources import FrameSource
from robotclient.values import STOP, Plate, Twist
from support.waiting import wait_for


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

    def __init__(self, address: str, image: np.ndarray, labels: tuple[str, ...] = ("person",)) -> None:
        clock = MonotonicClock()
        self.driver = RecordingDriver()
        self.link = MeshLink(
            LinkSettings(address=address, deadline_s=3.0, backoff_initial_s=0.05, backoff_max_s=0.25), clock
        ).start()
        self.runtime = RobotRuntime(
            source=StillCamera(image, clock),
            link=self.link,
            pilot=Pilot(PilotSettings(behavior=BehaviorSettings(wakeup_s=0.1), target_labels=labels), clock),
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


@pytest.fixture
def running(fake_mesh: FakeMesh) -> Iterator[Running]:
    run = Running(fake_mesh.address, np.zeros((480, 640, 3), np.uint8))
    yield run
    run.close()


def test_follows_with_the_fake_mesh(running: Running) -> None:
    wait_for(lambda: running.state() is State.FOLLOW, 10.0, "follow")
    # The fake's person is centred and smaller than wanted: drive forward, do not turn.
    wait_for(lambda: running.driver.twist.x_mps > 0, 5.0, "driving forward")
    assert running.driver.twist.z_dps == 0
    assert running.driver.led is not None and running.driver.led.effect == "on"


def test_kill_the_mesh(running: Running, fake_mesh: FakeMesh, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="robotclient")
    wait_for(lambda: running.state() is State.FOLLOW and not running.driver.twist.is_stop, 10.0, "following")

    fake_mesh.stop()
    # Within the mesh silence (0.5 s) and a frame or two: the robot must not drive blind.
    wait_for(lambda: running.driver.twist == STOP, 1.0, "the robot to stop after the mesh died")
    wait_for(lambda: running.link.in_outage, 2.0, "the link to report an outage")
    assert any("unreachable" in r.getMessage() for r in caplog.records)
    # The client keeps running and the robot stays stopped, step after step, while the mesh is away.
    stopped_from = len(running.driver.twists)
    wait_for(lambda: len(running.driver.twists) >= stopped_from + 20, 5.0, "20 steps during the outage")
    assert running.thread.is_alive()
    assert set(running.driver.twists[stopped_from:]) == {STOP}
    assert running.runtime.last_step.decision.halted

    fake_mesh.start()  # same port
    wait_for(lambda: not running.driver.twist.is_stop, 10.0, "the robot to resume")
    assert not running.link.in_outage
    assert any("mesh is back" in r.getMessage() for r in caplog.records)


def test_operator_command_and_hit(running: Running) -> None:
    wait_for(lambda: running.state() is State.FOLLOW, 10.0, "follow")
    running.runtime.command(Command.EXPLORE)
    # Explore ends at once here (a person is in view), but the robot passed through it.
    wait_for(lambda: running.pilot_states() >= {State.EXPLORE}, 2.0, "explore")
    running.driver.inject_hit(Plate.FRONT)
    wait_for(lambda: running.state() is State.HIT, 2.0, "the hit state")
    wait_for(lambda: running.driver.twist.x_mps < 0, 2.0, "backing away from a frontal hit")
    wait_for(lambda: running.state() is State.FOLLOW, 5.0, "following the person again")


def test_status_line(running: Running) -> None:
    wait_for(lambda: running.state() is State.FOLLOW, 10.0, "follow")
    line = status_line(running.runtime.last_step, rtt_s=0.0123, fps=9.5, host="edge-a", outage=False)
    assert line.startswith("state=follow target=#")
    assert "rtt=12ms" in line and "fps=9.5" in line and "edge=edge-a" in line and "mesh=ok" in line


def test_kill_the_real_aggregator(real_mesh: LocalMesh) -> None:
    """The same with the real mesh: the aggregator process is stopped and started on its port."""
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    run = Running(real_mesh.address, image, labels=("face", "person"))
    aggregator = real_mesh.services["aggregator"]
    try:
        wait_for(lambda: run.state() is State.FOLLOW and not run.driver.twist.is_stop, 20.0, "following")
        aggregator.stop()
        wait_for(lambda: run.driver.twist == STOP, 1.0, "the robot to stop after the aggregator died")
        wait_for(lambda: run.link.in_outage, 3.0, "the link to report an outage")
        assert run.thread.is_alive()
        aggregator.start()
        wait_serving(aggregator.address, 60.0)
        wait_for(lambda: not run.driver.twist.is_stop, 20.0, "the robot to resume")
        assert not run.link.in_outage
    finally:
        if not aggregator.running:
            aggregator.start()
            wait_serving(aggregator.address, 60.0)
        run.close()
