"""The real-time loop on the robot: camera -> link -> pilot -> driver, every frame.

Camera frames are offered to the link (newest only), the newest answer is folded into the
pilot, and the chassis is commanded on every frame, so that when the mesh goes silent the
robot is stopped at the next frame, not at the next answer. Frames keep flowing during an
outage, which is how the link notices the mesh is back.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from liquidedge.imaging import encode_jpeg
from robotclient.behavior import Command
from robotclient.clock import Clock
from robotclient.drivers.base import Driver
from robotclient.link import Answer, MeshLink, OutgoingFrame
from robotclient.operator_io import KEY_COMMANDS, CsvLog, Keyboard, LiveView, annotate
from robotclient.pilot import Pilot, PilotStep
from robotclient.sources import FrameSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeSettings:
    # No answer for this long (or a link outage) and the robot stops.
    mesh_silence_s: float = 0.5
    # Cap on the camera loop (a video file would otherwise be read as fast as the disk allows).
    max_fps: float = 30.0
    # Play a video file at its own rate instead of max_fps.
    native_rate: bool = True
    jpeg_quality: int = 80
    status_period_s: float = 1.0
    # Stop after this many frames (0: until the source ends or the operator quits).
    max_frames: int = 0


class RobotRuntime:
    def __init__(
        self,
        *,
        source: FrameSource,
        link: MeshLink,
        pilot: Pilot,
        driver: Driver,
        clock: Clock,
        settings: RuntimeSettings | None = None,
        view: LiveView | None = None,
        csv_log: CsvLog | None = None,
        keyboard: Keyboard | None = None,
    ) -> None:
        self.source = source
        self.link = link
        self.pilot = pilot
        self.driver = driver
        self.clock = clock
        self.settings = settings or RuntimeSettings()
        self.view = view
        self.csv_log = csv_log
        self.keyboard = keyboard
        self.last_step: PilotStep | None = None
        self.frames = 0
        self._stop = threading.Event()
        self._answer_lock = threading.Lock()
        self._new_answer: Answer | None = None
        self._last_answer_s: float | None = None
        self._pending_command: Command | None = None
        self._next_status_s = 0.0
        link.on_answer = self._on_answer

    def _on_answer(self, answer: Answer) -> None:
        with self._answer_lock:
            self._new_answer = answer

    def stop(self) -> None:
        self._stop.set()

    def command(self, command: Command) -> None:
        """Queue an operator command for the next step (keyboard, or a test)."""
        self._pending_command = command

    def mesh_ok(self, now: float) -> bool:
        if self.link.in_outage or self._last_answer_s is None:
            return False
        return now - self._last_answer_s < self.settings.mesh_silence_s

    def run(self) -> None:
        """Loop until the source ends, `stop()` is called, or the operator presses q."""
        s = self.settings
        fps = self.source.native_fps if s.native_rate and self.source.native_fps else s.max_fps
        period = 1.0 / fps if fps > 0 else 0.0
        self._next_status_s = self.clock.now() + s.status_period_s
        try:
            while not self._stop.is_set():
                started = self.clock.now()
                if not self.step_once():
                    break
                if s.max_frames and self.frames >= s.max_frames:
                    break
                self.clock.sleep(period - (self.clock.now() - started))
        finally:
            self.driver.stop()

    def step_once(self) -> bool:
        """One frame through the loop; False when the source is exhausted or q was pressed."""
        key = self.keyboard.poll() if self.keyboard is not None else None
        if key == "q":
            log.info("quit requested from the keyboard")
            return False
        if key in KEY_COMMANDS:
            self._pending_command = KEY_COMMANDS[key]
        frame = self.source.read()
        if frame is None:
            log.info("frame source ended after %d frames", self.frames)
            return False
        self.frames += 1
        self.link.submit(
            OutgoingFrame(
                frame.number, frame.capture_time_s, encode_jpeg(frame.image_bgr, self.settings.jpeg_quality)
            )
        )
        with self._answer_lock:
            answer, self._new_answer = self._new_answer, None
        if answer is not None:
            self._last_answer_s = answer.received_s
        now = self.clock.now()
        hits = self.driver.poll_hits()
        command = self._pending_command
        if not hits:
            self._pending_command = None  # else it waits one step: the hit goes first
        step = self.pilot.step(
            frame_wh=frame.size_wh,
            detections=answer.detections if answer is not None else None,
            mesh_ok=self.mesh_ok(now),
            served_by_host=self.link.served_by_host,
            hit=hits[-1] if hits else None,
            command=None if hits else command,
        )
        self.driver.drive(step.twist)
        if self.last_step is None or step.led != self.last_step.led:
            self.driver.set_led(step.led)
        self.last_step = step
        self._report(now, frame.number, frame.image_bgr, step, answer)
        return True

    def _report(self, now: float, number: int, image, step: PilotStep, answer: Answer | None) -> None:
        stats = self.link.stats
        fps = stats.fps(now)
        rtt = stats.last_rtt_s()
        if self.view is not None:
            self.view.publish(
                annotate(
                    image,
                    step,
                    rtt_s=rtt,
                    fps=fps,
                    host=self.link.served_by_host,
                    follow=self.pilot.settings.follow,
                )
            )
        if self.csv_log is not None and answer is not None:
            self.csv_log.write(
                time_s=now,
                frame=answer.frame_number,
                rtt_s=answer.rtt_s,
                objects=len(answer.detections),
                pose=self.driver.pose(),
                fps=fps,
                state=step.decision.state.value,
            )
        if now >= self._next_status_s:
            self._next_status_s = now + self.settings.status_period_s
            log.info(
                "%s",
                status_line(
                    step, rtt_s=rtt, fps=fps, host=self.link.served_by_host, outage=self.link.in_outage
                ),
            )


def status_line(step: PilotStep, *, rtt_s: float | None, fps: float, host: str, outage: bool) -> str:
    """The once-a-second summary: state, target, speeds, round trip, rate, edge."""
    target = "none"
    if step.target is not None:
        target = f"#{step.target.track_id} {step.target.label}"
        if step.target.identity is not None:
            target += f" {step.target.identity}"
    rtt = f"{rtt_s * 1000:.0f}ms" if rtt_s is not None else "-"
    mesh = "DOWN" if outage else ("silent" if step.decision.halted else "ok")
    return (
        f"state={step.decision.state.value} target={target} tracks={len(step.tracks)} "
        f"x={step.twist.x_mps:+.2f} z={step.twist.z_dps:+.0f} rtt={rtt} fps={fps:.1f} edge={host or '-'} mesh={mesh}"
    )
