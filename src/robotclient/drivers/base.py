"""The driver interface every chassis implements, and the no-op driver.

Logic never talks to hardware: it hands `Twist` and `Led` values to a `Driver`. The
RoboMaster driver, the simulator's driver and the no-op driver are interchangeable, and one
flag (`--driver`) picks which.
"""

from __future__ import annotations

import abc
import logging

from robotclient.values import STOP, Led, Plate, Pose, Twist

log = logging.getLogger(__name__)


class Driver(abc.ABC):
    @abc.abstractmethod
    def drive(self, twist: Twist) -> None:
        """Command chassis speeds until the next command (or the driver's own safety timeout)."""

    def stop(self) -> None:
        self.drive(STOP)

    @abc.abstractmethod
    def set_led(self, led: Led) -> None:
        """Show a colour and effect on the armour LEDs."""

    def poll_hits(self) -> list[Plate]:
        """Armour hits since the last poll, oldest first."""
        return []

    def pose(self) -> Pose | None:
        """The chassis pose when the driver knows it (simulator, odometry), else None."""
        return None

    def close(self) -> None:
        """Stop the chassis and release the connection."""
        self.stop()

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NoopDriver(Driver):
    """Moves nothing; remembers the last command so tests and dry runs can look at it."""

    def __init__(self) -> None:
        self.twist = STOP
        self.led: Led | None = None
        self.commands = 0
        self._hits: list[Plate] = []

    def drive(self, twist: Twist) -> None:
        if twist != self.twist:
            log.debug("drive x=%.2f y=%.2f z=%.1f", twist.x_mps, twist.y_mps, twist.z_dps)
        self.twist = twist
        self.commands += 1

    def set_led(self, led: Led) -> None:
        self.led = led

    def inject_hit(self, plate: Plate) -> None:
        """Pretend a plate was hit (dry runs and tests)."""
        self._hits.append(plate)

    def poll_hits(self) -> list[Plate]:
        hits, self._hits = self._hits, []
        return hits
