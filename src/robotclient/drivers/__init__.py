"""Robot drivers behind one interface: RoboMaster SDK, simulator, no-op."""

from robotclient.drivers.base import Driver, NoopDriver

__all__ = ["Driver", "NoopDriver"]
