"""The closed loop in simulated time: render, ask the real mesh, steer, advance the world.

Each step renders the frame the simulated camera sees, sends it through a real `MeshLink`
and waits for the answer however long the mesh takes, then lets the `Pilot` steer and moves
the world on by a fixed `dt_s`. The simulated timeline is therefore the same on a fast and a
slow machine: the run is deterministic up to the mesh's own answers. `latency_steps` delays
each command by whole steps, as a robot waiting on the network would be delayed.

The ground truth is the person the pilot follows (`PilotSettings.follow`, by name) or, without
a name, the world's first person. With several people, each record also says whom the target
is (the person whose projected centre is nearest the target's) and whom the nearest-person
rule would have chosen (the largest person box), so a run shows who was followed and how
often plain "follow the nearest" would have gone wrong.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from liquidedge.detections import Detections
from liquidedge.imaging import encode_jpeg
from robotclient.behavior import State
from robotclient.clock import ManualClock
from robotclient.drivers.sim import SimDriver
from robotclient.link import Answer, MeshLink, OutgoingFrame
from robotclient.pilot import Pilot, PilotStep
from robotclient.sim.camera import CameraModel, PersonView, project_person, render
from robotclient.sim.world import SimWorld
from robotclient.values import STOP, Pose


@dataclass(frozen=True)
class StepRecord:
    t_s: float
    state: State
    answered: bool
    # The target as the robot tracks it, and the person as the simulator knows them (pixels).
    target_center_x: float | None
    truth_center_x: float
    person_in_view: bool
    pose: Pose
    # Whom the target is, and whom the largest person box is (None: no such box in view).
    target_person: str | None = None
    largest_person: str | None = None
    # Someone else in view is nearer the robot than the person followed.
    other_nearer: bool = False


@dataclass
class ClosedLoopReport:
    frame_width: int
    followed: str
    records: list[StepRecord] = field(default_factory=list)

    def first(self, state: State, after: int = 0) -> int | None:
        for i in range(after, len(self.records)):
            if self.records[i].state is state:
                return i
        return None

    @property
    def acquisition_frame(self) -> int | None:
        return self.first(State.FOLLOW)

    @property
    def search_frame(self) -> int | None:
        """First frame of a search after the target was acquired (the person got away)."""
        acquired = self.acquisition_frame
        return None if acquired is None else self.first(State.SEARCH, acquired)

    @property
    def reacquisition_frame(self) -> int | None:
        lost = self.search_frame
        return None if lost is None else self.first(State.FOLLOW, lost)

    def within_fraction(self, tolerance: float = 0.1, *, use_truth: bool = True) -> float:
        """Share of FOLLOW frames after acquisition with the target centre within tolerance x width."""
        start = self.acquisition_frame
        if start is None:
            return 0.0
        limit = tolerance * self.frame_width
        centre = self.frame_width / 2.0
        scored = [r for r in self.records[start:] if r.state is State.FOLLOW]
        if not scored:
            return 0.0
        inside = 0
        for r in scored:
            x = r.truth_center_x if use_truth else r.target_center_x
            if x is not None and not math.isnan(x) and abs(x - centre) <= limit:
                inside += 1
        return inside / len(scored)

    @property
    def other_nearer_frames(self) -> int:
        """Frames where someone else in view was nearer the robot than the person followed."""
        return sum(r.other_nearer for r in self.records)

    @property
    def wrong_target_frames(self) -> int:
        """Frames where the robot's target was someone else."""
        return sum(r.target_person not in (None, self.followed) for r in self.records)

    @property
    def nearest_rule_wrong_frames(self) -> int:
        """Frames where the largest person box (what "follow the nearest" picks) was someone else."""
        return sum(r.largest_person not in (None, self.followed) for r in self.records)

    def summary(self) -> dict[str, object]:
        return {
            "frames": len(self.records),
            "answered": sum(r.answered for r in self.records),
            "acquisition_frame": self.acquisition_frame,
            "search_frame": self.search_frame,
            "reacquisition_frame": self.reacquisition_frame,
            "follow_frames": sum(r.state is State.FOLLOW for r in self.records),
            "within_10pct_truth": round(self.within_fraction(0.1, use_truth=True), 4),
            "within_10pct_tracked": round(self.within_fraction(0.1, use_truth=False), 4),
            "followed": self.followed,
            "other_nearer_frames": self.other_nearer_frames,
            "wrong_target_frames": self.wrong_target_frames,
            "nearest_rule_wrong_frames": self.nearest_rule_wrong_frames,
        }


def run_closed_loop(
    *,
    world: SimWorld,
    link: MeshLink,
    pilot: Pilot,
    clock: ManualClock,
    steps: int,
    dt_s: float = 0.1,
    model: CameraModel | None = None,
    latency_steps: int = 1,
    mesh_silence_s: float = 0.5,
    jpeg_quality: int = 85,
    on_step: Callable[[int, PilotStep, Answer | None], None] | None = None,
) -> ClosedLoopReport:
    """Run `steps` frames; `clock` must be the clock the pilot was built with."""
    model = model or CameraModel()
    driver = SimDriver(world)
    followed = world.person(pilot.settings.follow).name
    report = ClosedLoopReport(frame_width=model.size_wh[0], followed=followed)
    pending: collections.deque = collections.deque([STOP] * latency_steps)
    last_answer_s = clock.now()
    wait_s = link.settings.deadline_s + 2.0
    for number in range(1, steps + 1):
        image = render(world, model)
        views = {person.name: project_person(world, model, person.name) for person in world.people}
        truth = views[followed]
        link.submit(
            OutgoingFrame(
                number=number, capture_time_s=link.clock.now(), jpeg=encode_jpeg(image, jpeg_quality)
            )
        )
        outcome = link.wait_outcome(number, wait_s)
        answer = outcome if isinstance(outcome, Answer) else None
        if answer is not None:
            last_answer_s = clock.now()
        hits = driver.poll_hits()
        step = pilot.step(
            frame_wh=model.size_wh,
            detections=answer.detections if answer is not None else None,
            mesh_ok=clock.now() - last_answer_s < mesh_silence_s,
            served_by_host=link.served_by_host,
            hit=hits[-1] if hits else None,
        )
        pending.append(step.twist)
        driver.drive(pending.popleft())
        driver.set_led(step.led)
        target_x = None
        if step.target is not None and step.target.visible:
            target_x = step.target.center_xy[0]
        largest_x = _largest_person_x(answer.detections) if answer is not None else None
        report.records.append(
            StepRecord(
                t_s=clock.now(),
                state=step.decision.state,
                answered=answer is not None,
                target_center_x=target_x,
                truth_center_x=truth.center_x_px if truth.in_view else math.nan,
                person_in_view=truth.in_view,
                pose=world.pose,
                target_person=_whose(target_x, views),
                largest_person=_whose(largest_x, views),
                other_nearer=truth.in_view
                and any(
                    v.in_view and v.distance_m < truth.distance_m for v in views.values() if v is not truth
                ),
            )
        )
        if on_step is not None:
            on_step(number, step, answer)
        world.step(dt_s)
        clock.advance(dt_s)
    driver.stop()
    return report


def _largest_person_x(detections: Detections) -> float | None:
    """Centre column of the largest person box: whom the nearest-person rule would follow."""
    people = detections[detections.label == "person"]
    if not len(people):
        return None
    wh = people.xyxy[:, 2:] - people.xyxy[:, :2]
    x1, _, x2, _ = people.xyxy[int((wh[:, 0] * wh[:, 1]).argmax())]
    return float(x1 + x2) / 2.0


def _whose(center_x: float | None, views: dict[str, PersonView]) -> str | None:
    """The person in view whose projected centre is nearest `center_x`."""
    seen = {name: view for name, view in views.items() if view.in_view}
    if center_x is None or not seen:
        return None
    return min(seen, key=lambda name: abs(seen[name].center_x_px - center_x))
