"""The simulator's driver: commands go to the simulated chassis, hits come from the script."""

from __future__ import annotations

from robotclient.drivers.base import Driver
from robotclient.sim.world import SimWorld
from robotclient.values import Led, Plate, Pose, Twist


class SimDriver(Driver):
    def __init__(self, world: SimWorld) -> None:
        self.world = world
        self.led: Led | None = None

    def drive(self, twist: Twist) -> None:
        self.world.set_command(twist)

    def set_led(self, led: Led) -> None:
        self.led = led

    def poll_hits(self) -> list[Plate]:
        return self.world.take_hits()

    def pose(self) -> Pose | None:
        return self.world.pose
