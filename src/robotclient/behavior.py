"""The robot's behaviour as a state machine: wakeup, search, follow, idle, hit, explore.

Pure logic. `step` takes what the robot perceives (is the target visible, where was it last,
is the mesh answering, was an armour plate hit, did the operator type a command) and the time
from the clock passed in, and returns a `Decision`. Nothing here sleeps, threads or moves a
motor; tests step it with a manual clock.

Transitions:
    wakeup  -> follow/search       after `wakeup_s` (follow if a target is already visible)
    search  -> follow              target visible
    search  -> idle                no target for `search_timeout_s`
    follow  -> search              target not seen for `lost_grace_s`
    idle    -> follow              target visible (when `idle_follows_target`)
    idle    -> explore             after `idle_explore_after_s` (0 disables)
    explore -> follow              target visible
    explore -> idle                after `explore_timeout_s`
    any     -> hit                 an armour plate was hit (recovery depends on the plate)
    hit     -> search              after `hit_recovery_s`, to look for whoever hit it
    any     -> search/idle/explore operator command (s, i, x)
The mesh going silent does not change the state: `Decision.halted` is set and the robot stops
until answers come back, then carries on from where it was.
"""

from __future__ import annotations

import collections
import enum
import logging
from dataclasses import dataclass

from robotclient.clock import Clock
from robotclient.values import Plate, Twist

log = logging.getLogger(__name__)


class State(enum.Enum):
    WAKEUP = "wakeup"
    SEARCH = "search"
    FOLLOW = "follow"
    IDLE = "idle"
    HIT = "hit"
    EXPLORE = "explore"


class Command(enum.Enum):
    """Operator commands from the keyboard (q quits the program and is not a state change)."""

    SEARCH = "search"
    IDLE = "idle"
    EXPLORE = "explore"


_COMMAND_STATE = {Command.SEARCH: State.SEARCH, Command.IDLE: State.IDLE, Command.EXPLORE: State.EXPLORE}


@dataclass(frozen=True)
class BehaviorSettings:
    """Timeouts and manoeuvre speeds, all user-configurable (flags in `robotclient.cli`)."""

    wakeup_s: float = 1.0
    search_timeout_s: float = 20.0
    lost_grace_s: float = 0.5
    idle_follows_target: bool = True
    idle_explore_after_s: float = 0.0
    explore_timeout_s: float = 30.0
    hit_recovery_s: float = 1.0
    # Search turns on the spot towards the side the target was last seen.
    search_yaw_dps: float = 45.0
    # Explore drives straight for a leg, then turns for a while, and repeats.
    explore_speed_mps: float = 0.2
    explore_leg_s: float = 3.0
    explore_turn_s: float = 1.5
    explore_yaw_dps: float = 60.0
    # Hit recovery: front plate backs away, back plate darts forward, side plates spin to face.
    recovery_speed_mps: float = 0.3
    recovery_yaw_dps: float = 90.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, float) and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True)
class Perception:
    """What one step knows about the world."""

    target_visible: bool = False
    # Horizontal offset of the target from the image centre (-1 left .. +1 right), if known.
    target_offset: float | None = None
    mesh_ok: bool = True
    hit: Plate | None = None
    command: Command | None = None


@dataclass(frozen=True)
class Decision:
    """The state after a step, and what the chassis should do unless the state is FOLLOW."""

    state: State
    since_s: float
    halted: bool
    # Motion for states that move on a fixed pattern (search, explore, hit); None in FOLLOW.
    manoeuvre: Twist | None
    plate: Plate | None = None
    search_direction: int = 1


class Behavior:
    """Stepped state machine. One instance per robot; `step` once per processed frame."""

    def __init__(self, settings: BehaviorSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.state = State.WAKEUP
        self.since_s = clock.now()
        self.plate: Plate | None = None
        self.search_direction = 1
        self._last_seen_s = self.since_s
        # Recent transitions (time, state), for the logs and for tests that watch a live run.
        self.history: collections.deque[tuple[float, State]] = collections.deque(
            [(self.since_s, self.state)], 64
        )

    def _enter(self, state: State, now: float) -> None:
        if state is not self.state:
            log.info("behaviour %s -> %s", self.state.value, state.value)
        self.state = state
        self.since_s = now
        self.history.append((now, state))

    def step(self, seen: Perception) -> Decision:
        now = self.clock.now()
        s = self.settings
        if seen.target_visible:
            self._last_seen_s = now
            if seen.target_offset is not None and seen.target_offset != 0:
                self.search_direction = 1 if seen.target_offset > 0 else -1
        elapsed = now - self.since_s

        # A hit is a reflex and wins over an operator command given in the same step (the
        # runtime hands that command in again on the next step).
        if seen.hit is not None:
            self.plate = seen.hit
            self._enter(State.HIT, now)
        elif seen.command is not None:
            self._enter(_COMMAND_STATE[seen.command], now)
        elif self.state is State.WAKEUP:
            if elapsed >= s.wakeup_s:
                self._enter(State.FOLLOW if seen.target_visible else State.SEARCH, now)
        elif self.state is State.SEARCH:
            if seen.target_visible:
                self._enter(State.FOLLOW, now)
            elif elapsed >= s.search_timeout_s:
                self._enter(State.IDLE, now)
        elif self.state is State.FOLLOW:
            if not seen.target_visible and now - self._last_seen_s >= s.lost_grace_s:
                self._enter(State.SEARCH, now)
        elif self.state is State.IDLE:
            if seen.target_visible and s.idle_follows_target:
                self._enter(State.FOLLOW, now)
            elif s.idle_explore_after_s > 0 and elapsed >= s.idle_explore_after_s:
                self._enter(State.EXPLORE, now)
        elif self.state is State.EXPLORE:
            if seen.target_visible:
                self._enter(State.FOLLOW, now)
            elif elapsed >= s.explore_timeout_s:
                self._enter(State.IDLE, now)
        elif self.state is State.HIT and elapsed >= s.hit_recovery_s:
            self._enter(State.SEARCH, now)

        return Decision(
            state=self.state,
            since_s=self.since_s,
            halted=not seen.mesh_ok,
            manoeuvre=self._manoeuvre(now - self.since_s),
            plate=self.plate if self.state is State.HIT else None,
            search_direction=self.search_direction,
        )

    def _manoeuvre(self, elapsed: float) -> Twist | None:
        s = self.settings
        if self.state is State.FOLLOW:
            return None
        if self.state is State.SEARCH:
            return Twist(z_dps=self.search_direction * s.search_yaw_dps)
        if self.state is State.EXPLORE:
            period = s.explore_leg_s + s.explore_turn_s
            phase = elapsed % period if period > 0 else 0.0
            if phase < s.explore_leg_s:
                return Twist(x_mps=s.explore_speed_mps)
            return Twist(z_dps=s.explore_yaw_dps)
        if self.state is State.HIT:
            return recovery_twist(self.plate, s)
        return Twist()


def recovery_twist(plate: Plate | None, settings: BehaviorSettings) -> Twist:
    """The manoeuvre after a hit: get away from a frontal hit, turn to face a side or rear one."""
    if plate is Plate.FRONT:
        return Twist(x_mps=-settings.recovery_speed_mps)
    if plate is Plate.BACK:
        return Twist(x_mps=settings.recovery_speed_mps, z_dps=settings.recovery_yaw_dps * 2)
    if plate is Plate.LEFT:
        return Twist(z_dps=-settings.recovery_yaw_dps)
    if plate is Plate.RIGHT:
        return Twist(z_dps=settings.recovery_yaw_dps)
    return Twist()
