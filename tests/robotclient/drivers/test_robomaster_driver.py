"""The RoboMaster driver against a fake `robomaster` module: the SDK calls it makes."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

from robotclient.values import Led, Plate, Twist


class FakeRobot:
    """Records every SDK call the driver makes, in order."""

    instances: list[FakeRobot] = []

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.hit_callback = None
        self.fail_initialize = False
        robot = self

        class Chassis:
            def drive_speed(self, **kw: float) -> None:
                robot.calls.append(("chassis.drive_speed", kw))

        class LedModule:
            def set_led(self, **kw: object) -> None:
                robot.calls.append(("led.set_led", kw))

        class Armor:
            def sub_hit_event(self, callback) -> bool:
                robot.hit_callback = callback
                robot.calls.append(("armor.sub_hit_event",))
                return True

            def unsub_hit_event(self) -> bool:
                robot.calls.append(("armor.unsub_hit_event",))
                return True

        self.chassis, self.led, self.armor = Chassis(), LedModule(), Armor()
        FakeRobot.instances.append(self)

    def initialize(self, **kw: object) -> bool:
        self.calls.append(("initialize", kw))
        if kw.get("conn_type") == "broken":
            raise RuntimeError("no robot found")
        return True

    def set_robot_mode(self, mode: str) -> None:
        self.calls.append(("set_robot_mode", mode))

    def close(self) -> None:
        self.calls.append(("close",))


@pytest.fixture
def fake_sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeRobot]]:
    package = types.ModuleType("robomaster")
    robot_module = types.ModuleType("robomaster.robot")
    robot_module.Robot = FakeRobot
    robot_module.CHASSIS_LEAD = "chassis_lead"
    package.robot = robot_module
    monkeypatch.setitem(sys.modules, "robomaster", package)
    monkeypatch.setitem(sys.modules, "robomaster.robot", robot_module)
    FakeRobot.instances = []
    yield FakeRobot


def test_connects_and_drives(fake_sdk: type[FakeRobot]) -> None:
    from robotclient.drivers.robomaster import RoboMasterDriver

    driver = RoboMasterDriver("ap", command_timeout_s=0.4)
    robot = fake_sdk.instances[0]
    assert robot.calls[:3] == [
        ("initialize", {"conn_type": "ap"}),
        ("set_robot_mode", "chassis_lead"),
        ("armor.sub_hit_event",),
    ]
    driver.drive(Twist(x_mps=0.2, y_mps=0.0, z_dps=-30.0))
    assert robot.calls[-1] == ("chassis.drive_speed", {"x": 0.2, "y": 0.0, "z": -30.0, "timeout": 0.4})
    driver.set_led(Led(rgb=(1, 2, 3), effect="flash"))
    assert robot.calls[-1] == ("led.set_led", {"comp": "all", "r": 1, "g": 2, "b": 3, "effect": "flash"})
    driver.close()
    assert robot.calls[-3:] == [
        ("chassis.drive_speed", {"x": 0.0, "y": 0.0, "z": 0.0, "timeout": 0.4}),
        ("armor.unsub_hit_event",),
        ("close",),
    ]


@pytest.mark.parametrize(
    ("armor_id", "plate"),
    [(1, Plate.BACK), (2, Plate.FRONT), (3, Plate.LEFT), (4, Plate.RIGHT), (5, Plate.LEFT), (6, Plate.RIGHT)],
)
def test_hits_map_armour_ids_to_plates(fake_sdk: type[FakeRobot], armor_id: int, plate: Plate) -> None:
    from robotclient.drivers.robomaster import RoboMasterDriver

    driver = RoboMasterDriver()
    fake_sdk.instances[0].hit_callback((armor_id, "ir"))
    assert driver.poll_hits() == [plate]
    assert driver.poll_hits() == []


def test_unknown_armour_id_is_ignored(fake_sdk: type[FakeRobot]) -> None:
    from robotclient.drivers.robomaster import RoboMasterDriver

    driver = RoboMasterDriver()
    fake_sdk.instances[0].hit_callback((9, "water"))
    assert driver.poll_hits() == []


def test_failed_connection_closes_the_robot(fake_sdk: type[FakeRobot]) -> None:
    from robotclient.drivers.robomaster import RoboMasterDriver

    with pytest.raises(RuntimeError, match="no robot"):
        RoboMasterDriver("broken")
    assert fake_sdk.instances[0].calls[-1] == ("close",)


def test_missing_sdk_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "robomaster", None)  # makes `import robomaster` fail
    from robotclient.drivers.robomaster import RoboMasterDriver

    with pytest.raises(OSError, match=r"3\.6-3\.8"):
        RoboMasterDriver()


def test_logic_modules_never_import_hardware_libraries() -> None:
    import importlib

    for name in ("tracker", "target", "behavior", "controller", "pilot", "runtime", "link"):
        importlib.import_module(f"robotclient.{name}")
    assert "robomaster" not in sys.modules or sys.modules["robomaster"] is None
    assert "picamera2" not in sys.modules
