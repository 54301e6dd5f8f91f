"""The real-time loop: kill the mesh while it runs, and the robot stops, reports, and resumes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

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
from robotclient.values import STOP, Plate


class StillCamera(FrameSource):
    """The same picture forever (the fake mesh does not look at it anyway)."""

    def __init__(self, image: np.ndarray, clock: Clock) -> None:
        super().__init__(clock)
        self.image = image

    def _grab(self) -> np.ndarray | None:
        return self.image


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class Running:
    """A runtime on its own thread, against `address`, with a no-op driver to watch."""

    def __init__(self, address: str, image: np.ndarray, labels: tuple[str, ...] = ("person",)) -> None:
        clock = MonotonicClock()
        self.driver = NoopDriver()
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
    assert wait_until(lambda: running.state() is State.FOLLOW, 10.0)
    # The fake's person is centred and smaller than wanted: drive forward, do not turn.
    assert wait_until(lambda: running.driver.twist.x_mps > 0, 5.0)
    assert running.driver.twist.z_dps == 0
    assert running.driver.led is not None and running.driver.led.effect == "on"


def test_kill_the_mesh(running: Running, fake_mesh: FakeMesh, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="robotclient")
    assert wait_until(lambda: running.state() is State.FOLLOW and not running.driver.twist.is_stop, 10.0)

    fake_mesh.stop()
    killed = time.monotonic()
    assert wait_until(lambda: running.driver.twist == STOP, 1.0), "robot still moving 1 s after the mesh died"
    stopped_after = time.monotonic() - killed
    assert stopped_after < 1.0
    assert wait_until(lambda: running.link.in_outage, 2.0)
    assert any("unreachable" in r.getMessage() for r in caplog.records)
    # The client keeps running and the robot stays stopped while the mesh is away.
    for _ in range(20):
        time.sleep(0.05)
        assert running.thread.is_alive()
        assert running.driver.twist == STOP
        assert running.runtime.last_step.decision.halted

    fake_mesh.start()  # same port
    assert wait_until(lambda: not running.driver.twist.is_stop, 10.0), "robot did not resume"
    assert not running.link.in_outage
    assert any("mesh is back" in r.getMessage() for r in caplog.records)


def test_operator_command_and_hit(running: Running) -> None:
    assert wait_until(lambda: running.state() is State.FOLLOW, 10.0)
    running.runtime.command(Command.EXPLORE)
    # Explore ends at once here (a person is in view), but the robot passed through it.
    assert wait_until(lambda: running.pilot_states() >= {State.EXPLORE}, 2.0)
    running.driver.inject_hit(Plate.FRONT)
    assert wait_until(lambda: running.state() is State.HIT, 2.0)
    assert wait_until(lambda: running.driver.twist.x_mps < 0, 2.0)  # backs away from a frontal hit
    assert wait_until(lambda: running.state() is State.FOLLOW, 5.0)  # and finds the person again


def test_status_line(running: Running) -> None:
    assert wait_until(lambda: running.state() is State.FOLLOW, 10.0)
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
        assert wait_until(lambda: run.state() is State.FOLLOW and not run.driver.twist.is_stop, 20.0)
        aggregator.stop()
        killed = time.monotonic()
        assert wait_until(lambda: run.driver.twist == STOP, 1.0)
        assert time.monotonic() - killed < 1.0
        assert wait_until(lambda: run.link.in_outage, 3.0)
        assert run.thread.is_alive()
        aggregator.start()
        wait_serving(aggregator.address, 60.0)
        assert wait_until(lambda: not run.driver.twist.is_stop, 20.0)
        assert not run.link.in_outage
    finally:
        if not aggregator.running:
            aggregator.start()
            wait_serving(aggregator.address, 60.0)
        run.close()
