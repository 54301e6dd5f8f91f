"""The real-time loop: kill the mesh while it runs, and the robot stops, reports, and resumes."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pytest
from robot_fakes import FakeMesh, Running

from meshtools.localmesh import LocalMesh, wait_serving
from robotclient.behavior import Command, State
from robotclient.runtime import status_line
from robotclient.values import STOP, Plate
from support.waiting import wait_for


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
