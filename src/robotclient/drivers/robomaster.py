"""The DJI RoboMaster S1/EP chassis through the official SDK (`pip install robomaster`).

The SDK ships wheels for CPython 3.6-3.8 only, so it is imported here, when this driver is
built, and nowhere else: the rest of the client runs on any Python. Tests inject a fake
`robomaster` module and check the calls.

SDK facts used: `robot.Robot().initialize(conn_type=...)`; `chassis.drive_speed(x, y, z,
timeout)` with x forward and y right in m/s and z in deg/s; `led.set_led(comp, r, g, b,
effect)`; `armor.sub_hit_event(callback)` whose callback gets `(armor_id, hit_type)` with ids
1 chassis back, 2 front, 3 left, 4 right, 5 gimbal left, 6 gimbal right.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from robotclient.drivers.base import Driver
from robotclient.values import Led, Plate, Twist

log = logging.getLogger(__name__)

ARMOR_PLATES = {
    1: Plate.BACK,
    2: Plate.FRONT,
    3: Plate.LEFT,
    4: Plate.RIGHT,
    5: Plate.LEFT,
    6: Plate.RIGHT,
}
# Our effect names are the SDK's; kept in one table in case a firmware renames them.
LED_EFFECTS = {"on": "on", "off": "off", "flash": "flash", "breath": "breath", "scrolling": "scrolling"}


class RoboMasterDriver(Driver):
    """Drives the chassis; every command carries a short SDK timeout as a dead-man switch."""

    def __init__(
        self, conn_type: str = "rndis", *, command_timeout_s: float = 0.5, sn: str | None = None
    ) -> None:
        try:
            from robomaster import robot
        except ImportError as error:
            raise OSError(
                "the RoboMaster driver needs the `robomaster` SDK, which exists for CPython 3.6-3.8 only: "
                "install it in such an interpreter (see docs/robotclient.md) or use --driver sim/noop"
            ) from error
        self.command_timeout_s = command_timeout_s
        self._hits: list[Plate] = []
        self._lock = threading.Lock()
        self._robot = robot.Robot()
        kwargs: dict[str, Any] = {"conn_type": conn_type}
        if sn:
            kwargs["sn"] = sn
        try:
            self._robot.initialize(**kwargs)
            # Chassis-lead: the gimbal (and the camera on it) turns with the chassis.
            self._robot.set_robot_mode(mode=robot.CHASSIS_LEAD)
            self._robot.armor.sub_hit_event(self._on_hit)
        except Exception:
            self._robot.close()
            raise
        log.info("RoboMaster connected over %s", conn_type)

    def _on_hit(self, info: tuple[int, str], *args: Any) -> None:
        armor_id = info[0] if isinstance(info, tuple | list) else info
        plate = ARMOR_PLATES.get(int(armor_id))
        if plate is None:
            log.warning("hit on unknown armour id %s", armor_id)
            return
        with self._lock:
            self._hits.append(plate)

    def drive(self, twist: Twist) -> None:
        self._robot.chassis.drive_speed(
            x=twist.x_mps, y=twist.y_mps, z=twist.z_dps, timeout=self.command_timeout_s
        )

    def set_led(self, led: Led) -> None:
        r, g, b = led.rgb
        self._robot.led.set_led(comp="all", r=r, g=g, b=b, effect=LED_EFFECTS.get(led.effect, "on"))

    def poll_hits(self) -> list[Plate]:
        with self._lock:
            hits, self._hits = self._hits, []
        return hits

    def close(self) -> None:
        try:
            self.stop()
            self._robot.armor.unsub_hit_event()
        finally:
            self._robot.close()
