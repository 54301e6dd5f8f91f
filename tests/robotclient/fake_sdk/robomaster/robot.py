"""Fake `robomaster.robot`: a Robot whose chassis, LEDs and armour record their calls."""

import os
import threading

from robomaster import led as _led
from robomaster import record

FREE = "free"
GIMBAL_LEAD = "gimbal_lead"
CHASSIS_LEAD = "chassis_lead"


class _Chassis:
    def drive_speed(self, x=0.0, y=0.0, z=0.0, timeout=None):
        record("chassis.drive_speed", x=x, y=y, z=z, timeout=timeout)
        return True


class _Led:
    def set_led(self, comp="all", r=0, g=0, b=0, effect=_led.EFFECT_ON, freq=1):
        is_sdk_constant = any(effect is constant for constant in _led.SDK_EFFECTS)
        record("led.set_led", comp=comp, r=r, g=g, b=b, effect=effect, effect_is_sdk_constant=is_sdk_constant)
        # Like the real SDK: an unknown component is refused with False, not an exception.
        return comp in (_led.COMP_ALL, _led.COMP_TOP_ALL, _led.COMP_BOTTOM_ALL)


class _Armor:
    def __init__(self):
        self._callback = None
        self._stop = threading.Event()

    def sub_hit_event(self, callback=None, *args, **kw):
        record("armor.sub_hit_event")
        self._callback = callback
        threading.Thread(target=self._feed_hits, daemon=True).start()
        return True

    def unsub_hit_event(self):
        record("armor.unsub_hit_event")
        self._stop.set()
        return True

    def _feed_hits(self):
        """Deliver each new line of FAKE_ROBOMASTER_HITS as (armor_id, hit_type), as the SDK does."""
        path = os.environ.get("FAKE_ROBOMASTER_HITS")
        seen = 0
        while path and not self._stop.wait(0.02):
            if not os.path.exists(path):
                continue
            with open(path) as hits_file:
                lines = hits_file.read().splitlines()
            for line in lines[seen:]:
                armor_id, hit_type = line.split()
                self._callback((int(armor_id), hit_type))
            seen = len(lines)


class Robot:
    def __init__(self):
        self.chassis = _Chassis()
        self.led = _Led()
        self.armor = _Armor()

    def initialize(self, conn_type="ap", proto_type="udp", sn=None):
        record("initialize", conn_type=conn_type, sn=sn)
        # The real SDK returns False when no robot answers; FAKE_ROBOMASTER_ABSENT plays that.
        return not os.environ.get("FAKE_ROBOMASTER_ABSENT")

    def set_robot_mode(self, mode=GIMBAL_LEAD):
        record("set_robot_mode", mode=mode)
        return True

    def close(self):
        record("close")
