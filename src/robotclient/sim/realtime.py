"""The simulator in wall-clock time, for `--source sim`: the world moves as real time passes."""

from __future__ import annotations

import numpy as np

from robotclient.clock import Clock
from robotclient.sim.camera import CameraModel, render
from robotclient.sim.world import SimWorld
from robotclient.sources import FrameSource


class RealtimeSimSource(FrameSource):
    """Each read advances the world by the time elapsed since the last read, then renders it."""

    def __init__(self, world: SimWorld, clock: Clock, model: CameraModel | None = None) -> None:
        super().__init__(clock)
        self.world = world
        self.model = model or CameraModel()
        self._last_s: float | None = None

    @property
    def native_fps(self) -> float | None:
        return 10.0

    def _grab(self) -> np.ndarray | None:
        now = self.clock.now()
        if self._last_s is not None:
            self.world.step(min(0.5, now - self._last_s))
        self._last_s = now
        return render(self.world, self.model)
