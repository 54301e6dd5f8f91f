"""Robot drivers behind one interface: the RoboMaster (through its SDK bridge), simulator, no-op."""

from robotclient.drivers.base import Driver, NoopDriver

__all__ = ["Driver", "NoopDriver"]
