"""The no-op and simulator drivers implement the same interface."""

from __future__ import annotations

import subprocess
import sys

from robotclient.drivers.base import Driver, NoopDriver
from robotclient.drivers.sim import SimDriver
from robotclient.sim.world import PersonPath, SimWorld, Waypoint
from robotclient.values import STOP, Led, Plate, Twist


def test_noop_driver_remembers_and_stops() -> None:
    with NoopDriver() as driver:
        driver.drive(Twist(x_mps=0.1))
        driver.set_led(Led((1, 2, 3), "on"))
        driver.inject_hit(Plate.LEFT)
        assert driver.twist == Twist(x_mps=0.1) and driver.led == Led((1, 2, 3), "on")
        assert driver.poll_hits() == [Plate.LEFT] and driver.poll_hits() == []
        assert driver.pose() is None
    assert driver.twist == STOP  # closing stops the chassis


def test_sim_driver_moves_the_world() -> None:
    world = SimWorld(PersonPath([Waypoint(0, 3, 0)]), hits=[(0.5, Plate.BACK)])
    driver = SimDriver(world)
    assert isinstance(driver, Driver)
    driver.drive(Twist(x_mps=0.5))
    world.step(1.0)
    assert driver.pose().x_m == 0.5
    assert driver.poll_hits() == [Plate.BACK] and driver.poll_hits() == []


def test_logic_modules_never_import_hardware_libraries() -> None:
    # In a fresh interpreter: what the logic needs must not drag in a camera or robot library.
    logic = ("tracker", "target", "behavior", "controller", "pilot", "runtime", "link", "drivers.base")
    code = "; ".join(f"import robotclient.{name}" for name in logic)
    code += "; import sys; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'robotclient'" in loaded
    for library in ("robomaster", "robomaster_bridge", "picamera2"):
        assert f"'{library}'" not in loaded
