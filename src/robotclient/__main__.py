"""`robotclient` / `python -m robotclient`: run the robot (or `robotclient videoclip ...`)."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from liquidedge.logs import configure_logging
from robotclient.cli import (
    ROBOMASTER_DRIVERS,
    bridge_settings_from,
    build_parser,
    check_args,
    settings_from,
    sim_world_from,
)
from robotclient.clock import MonotonicClock
from robotclient.drivers.base import Driver, NoopDriver
from robotclient.link import MeshLink
from robotclient.operator_io import CsvLog, Keyboard, LiveView
from robotclient.pilot import Pilot
from robotclient.runtime import RobotRuntime
from robotclient.sim.realtime import RealtimeSimSource
from robotclient.sources import FrameSource, open_source

log = logging.getLogger("robotclient")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["videoclip"]:
        from robotclient import videoclip

        return videoclip.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    configure_logging("robotclient", args.log_level, args.log_format)
    try:
        link_settings, pilot_settings, runtime_settings = settings_from(args)
    except ValueError as error:
        parser.error(str(error))
    clock = MonotonicClock()

    with contextlib.ExitStack() as stack:
        try:
            world = sim_world_from(args)
            source: FrameSource = (
                RealtimeSimSource(world, clock)
                if world is not None
                else open_source(args.source, clock, loop=args.loop, size_wh=(args.width, args.height))
            )
            stack.callback(source.close)
            driver = _make_driver(args, world)
            stack.callback(driver.close)
        except (OSError, ValueError) as error:
            parser.error(str(error))
        link = MeshLink(link_settings, clock).start()
        stack.callback(link.stop)
        view = None
        if args.view_port >= 0:
            view = LiveView()
            stack.callback(view.serve(args.view_host, args.view_port).stop)
        csv_log = None
        if args.csv:
            csv_log = CsvLog(args.csv)
            stack.callback(csv_log.close)
        keyboard = stack.enter_context(Keyboard())
        runtime = RobotRuntime(
            source=source,
            link=link,
            pilot=Pilot(pilot_settings, clock),
            driver=driver,
            clock=clock,
            settings=runtime_settings,
            view=view,
            csv_log=csv_log,
            keyboard=keyboard,
        )
        signal.signal(signal.SIGTERM, lambda *_: runtime.stop())
        log.info(
            "robot client: source %s, driver %s, mesh %s (%s)",
            args.source,
            args.driver,
            args.mesh_addr,
            args.protocol,
        )
        try:
            runtime.run()
        except KeyboardInterrupt:
            log.info("interrupted")
        log.info("link summary: %s", link.stats.snapshot())
    return 0


def _make_driver(args, world) -> Driver:
    if args.driver in ROBOMASTER_DRIVERS:
        from robotclient.drivers.bridge import RoboMasterBridgeDriver

        return RoboMasterBridgeDriver(bridge_settings_from(args))
    if args.driver == "sim" or world is not None:
        if world is None:
            raise ValueError(
                "--driver sim needs --source sim or sim:people (the simulated camera sees the simulated world)"
            )
        from robotclient.drivers.sim import SimDriver

        return SimDriver(world)
    return NoopDriver()


if __name__ == "__main__":
    sys.exit(main())
