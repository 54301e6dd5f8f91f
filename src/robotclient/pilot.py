"""One control step: the mesh's latest answer in, a chassis command and LED light out.

The pilot holds the tracker, the target selector and the behaviour state machine, and glues
them to the controller. The real-time loop and the simulator's closed loop both call `step`,
so what the simulator proves is what runs on the robot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from liquidedge.detections import Detections
from robotclient.behavior import Behavior, BehaviorSettings, Command, Decision, Perception
from robotclient.clock import Clock
from robotclient.controller import ControllerSettings, command_for, horizontal_offset, led_for
from robotclient.identity import attach_face_identities
from robotclient.target import TargetSelector
from robotclient.tracker import Track, Tracker, TrackerSettings
from robotclient.values import Led, Plate, Twist


@dataclass(frozen=True)
class PilotSettings:
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    behavior: BehaviorSettings = field(default_factory=BehaviorSettings)
    controller: ControllerSettings = field(default_factory=ControllerSettings)
    target_labels: tuple[str, ...] = ("person", "face")
    target_min_hits: int = 2
    # Follow only this named person (faces named by the mesh's recognition); None: anyone.
    follow: str | None = None


@dataclass(frozen=True)
class PilotStep:
    """Everything one step decided, for the driver, the live view and the logs."""

    tracks: list[Track]
    target: Track | None
    decision: Decision
    twist: Twist
    led: Led


class Pilot:
    def __init__(self, settings: PilotSettings, clock: Clock) -> None:
        self.settings = settings
        self.tracker = Tracker(settings.tracker)
        self.selector = TargetSelector(settings.target_labels, settings.target_min_hits, settings.follow)
        self.behavior = Behavior(settings.behavior, clock)
        self.tracks: list[Track] = []

    def step(
        self,
        *,
        frame_wh: tuple[int, int],
        detections: Detections | None,
        mesh_ok: bool,
        served_by_host: str = "",
        hit: Plate | None = None,
        command: Command | None = None,
    ) -> PilotStep:
        """Advance one step. `detections` is None when no new answer arrived since the last step."""
        if detections is not None:
            self.tracks = self.tracker.update(attach_face_identities(detections))
        target = self.selector.select(self.tracks)
        visible = target is not None and target.visible and mesh_ok
        offset = horizontal_offset(target.xyxy, frame_wh) if target is not None else None
        decision = self.behavior.step(
            Perception(
                target_visible=visible, target_offset=offset, mesh_ok=mesh_ok, hit=hit, command=command
            )
        )
        target_box = target.xyxy if visible and target is not None else None
        twist = command_for(decision, target_box, frame_wh, self.settings.controller)
        return PilotStep(
            tracks=list(self.tracks),
            target=target,
            decision=decision,
            twist=twist,
            led=led_for(decision, served_by_host),
        )
