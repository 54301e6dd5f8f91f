"""Flags (each with a ROBOT_* environment twin) and the objects they build."""

from __future__ import annotations

import argparse
import socket

from liquidedge.config import EnvDefaultsParser, parse_bool, parse_csv
from liquidedge.security import read_token
from robotclient.behavior import BehaviorSettings
from robotclient.controller import ControllerSettings
from robotclient.drivers.bridge import BridgeSettings
from robotclient.identity import UNKNOWN
from robotclient.link import LinkSettings
from robotclient.pilot import PilotSettings
from robotclient.runtime import RuntimeSettings
from robotclient.sim.scenario import DEFAULT_PHOTO_DIR, follow_world, named_world
from robotclient.sim.world import SimWorld
from robotclient.tracker import TrackerSettings

# The RoboMaster is driven through its SDK bridge; `robomaster-bridge` is the older name of the same.
ROBOMASTER_DRIVERS = ("robomaster", "robomaster-bridge")
# The simulator's worlds, by --source: one person walking, or two people (followed by name).
SIM_SOURCES = ("sim", "sim:people")
# Flag defaults are the settings' own defaults, so the CLI and the tested logic never drift apart.
_T, _B, _C, _BR = TrackerSettings(), BehaviorSettings(), ControllerSettings(), BridgeSettings()


def build_parser() -> EnvDefaultsParser:
    p = EnvDefaultsParser(
        prog="robotclient",
        description="The LIQUID EDGE robot client: camera frames to the mesh, follow a person. "
        "`robotclient videoclip --help` is the benchmark client.",
    )
    f = p.env_flag
    f("--mesh-addr", "ROBOT_MESH_ADDR", default="localhost:50051", help="aggregator address host:port")
    f(
        "--protocol",
        "ROBOT_PROTOCOL",
        default="v1",
        choices=["v1", "legacy"],
        help="v1 stream or legacy unary",
    )
    f(
        "--source",
        "ROBOT_SOURCE",
        default="picamera",
        help="picamera, webcam:N, a video file, a folder, sim (a person walking) or sim:people "
        "(Obama and Biden, for --follow)",
    )
    f(
        "--sim-photo-dir",
        "ROBOT_SIM_PHOTO_DIR",
        default=DEFAULT_PHOTO_DIR,
        help="photos of the sim:people figures (obama3.jpg, biden.jpg: make recognition-models)",
    )
    f("--loop", "ROBOT_LOOP", default=False, type=parse_bool, help="loop a video file or folder")
    f("--width", "ROBOT_WIDTH", default=640, type=int, help="camera frame width")
    f("--height", "ROBOT_HEIGHT", default=480, type=int, help="camera frame height")
    f("--fps", "ROBOT_FPS", default=30.0, type=float, help="most frames per second the loop processes")
    f(
        "--native-rate",
        "ROBOT_NATIVE_RATE",
        default=True,
        type=parse_bool,
        help="play video files at their own fps",
    )
    f("--frames", "ROBOT_FRAMES", default=0, type=int, help="stop after this many frames, 0 = run on")
    f(
        "--driver",
        "ROBOT_DRIVER",
        default="noop",
        choices=["noop", "sim", *ROBOMASTER_DRIVERS],
        help="chassis driver (robomaster: the SDK in a python3.8 bridge process; robomaster-bridge is the same)",
    )
    f(
        "--robomaster-conn",
        "ROBOT_ROBOMASTER_CONN",
        default="rndis",
        choices=["rndis", "ap", "sta"],
        help="RoboMaster SDK connection type (for a bridge started by --spawn-bridge)",
    )
    f("--robomaster-sn", "ROBOT_ROBOMASTER_SN", default="", help="RoboMaster serial number (sta mode)")
    f(
        "--bridge-addr",
        "ROBOT_BRIDGE_ADDR",
        default=_BR.address,
        help="RoboMaster bridge address: host:port on loopback or a unix socket path",
    )
    f(
        "--bridge-timeout-s",
        "ROBOT_BRIDGE_TIMEOUT_S",
        default=_BR.timeout_s,
        type=float,
        help="longest wait for the bridge to answer one command",
    )
    f(
        "--spawn-bridge",
        "ROBOT_SPAWN_BRIDGE",
        default="",
        help="start the bridge with this interpreter (e.g. python3.8) and stop it on exit; empty = connect",
    )
    f("--source-id", "ROBOT_ID", default=socket.gethostname(), help="name sent with every frame")
    f("--user-id", "ROBOT_USER_ID", default=1, type=int, help="legacy protocol user id")
    f(
        "--engines",
        "ROBOT_ENGINES",
        default="",
        type=parse_csv,
        help="engines to ask for, comma-separated; empty = all",
    )
    f(
        "--target",
        "ROBOT_TARGET",
        default="person,face",
        type=parse_csv,
        help="labels to follow, in priority order",
    )
    f(
        "--follow",
        "ROBOT_FOLLOW",
        default="",
        help="follow only this person, named by the mesh's face recognition; empty = anyone",
    )
    f("--tls", "ROBOT_TLS", default=False, type=parse_bool, help="TLS to the mesh (system CA roots)")
    f(
        "--tls-ca-file",
        "ROBOT_TLS_CA_FILE",
        default="",
        help="CA that signed the mesh's certificate (implies TLS)",
    )
    f("--tls-cert-file", "ROBOT_TLS_CERT_FILE", default="", help="client certificate for mutual TLS")
    f("--tls-key-file", "ROBOT_TLS_KEY_FILE", default="", help="client key for mutual TLS")
    f("--token-file", "ROBOT_TOKEN_FILE", default="", help="file holding the bearer token the mesh requires")
    f("--deadline-s", "ROBOT_DEADLINE_S", default=1.0, type=float, help="per-frame deadline")
    f("--mesh-silence-s", "ROBOT_MESH_SILENCE_S", default=0.5, type=float, help="no answer this long: stop")
    f(
        "--max-missed",
        "ROBOT_MAX_MISSED",
        default=_T.max_missed,
        type=int,
        help="frames a track survives unseen",
    )
    f("--wakeup-s", "ROBOT_WAKEUP_S", default=_B.wakeup_s, type=float, help="wakeup duration")
    f(
        "--search-timeout-s",
        "ROBOT_SEARCH_TIMEOUT_S",
        default=_B.search_timeout_s,
        type=float,
        help="search gives up to idle",
    )
    f(
        "--lost-grace-s",
        "ROBOT_LOST_GRACE_S",
        default=_B.lost_grace_s,
        type=float,
        help="target unseen this long: search",
    )
    f(
        "--explore-timeout-s",
        "ROBOT_EXPLORE_TIMEOUT_S",
        default=_B.explore_timeout_s,
        type=float,
        help="explore gives up to idle",
    )
    f(
        "--idle-explore-after-s",
        "ROBOT_IDLE_EXPLORE_AFTER_S",
        default=_B.idle_explore_after_s,
        type=float,
        help="idle starts exploring after this, 0 = never",
    )
    f(
        "--hit-recovery-s",
        "ROBOT_HIT_RECOVERY_S",
        default=_B.hit_recovery_s,
        type=float,
        help="hit recovery manoeuvre length",
    )
    f(
        "--search-yaw-dps",
        "ROBOT_SEARCH_YAW_DPS",
        default=_B.search_yaw_dps,
        type=float,
        help="turn rate while searching",
    )
    f(
        "--yaw-gain",
        "ROBOT_YAW_GAIN",
        default=_C.yaw_gain_dps,
        type=float,
        help="deg/s per unit of offset (1 = frame edge)",
    )
    f(
        "--yaw-deadband",
        "ROBOT_YAW_DEADBAND",
        default=_C.yaw_deadband,
        type=float,
        help="offset ignored around the centre",
    )
    f("--max-yaw-dps", "ROBOT_MAX_YAW_DPS", default=_C.max_yaw_dps, type=float, help="yaw speed limit")
    f(
        "--desired-height",
        "ROBOT_DESIRED_HEIGHT",
        default=_C.desired_height,
        type=float,
        help="target height as a fraction of the frame at the following distance",
    )
    f(
        "--forward-gain",
        "ROBOT_FORWARD_GAIN",
        default=_C.forward_gain_mps,
        type=float,
        help="m/s per unit of height error",
    )
    f(
        "--forward-deadband",
        "ROBOT_FORWARD_DEADBAND",
        default=_C.forward_deadband,
        type=float,
        help="height error ignored",
    )
    f(
        "--max-forward-mps",
        "ROBOT_MAX_FORWARD_MPS",
        default=_C.max_forward_mps,
        type=float,
        help="forward speed limit",
    )
    f(
        "--max-backward-mps",
        "ROBOT_MAX_BACKWARD_MPS",
        default=_C.max_backward_mps,
        type=float,
        help="backward speed limit",
    )
    f("--view-host", "ROBOT_VIEW_HOST", default="0.0.0.0", help="live view bind address")
    f("--view-port", "ROBOT_VIEW_PORT", default=9088, type=int, help="live view port, -1 = off")
    f("--csv", "ROBOT_CSV", default="", help="CSV log path (time, RTT, objects, pose, FPS); empty = off")
    f("--log-level", "ROBOT_LOG_LEVEL", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    f("--log-format", "ROBOT_LOG_FORMAT", default="text", choices=["json", "text"], help="log line format")
    return p


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fail at start-up with a message, not later with a stack trace."""
    if args.deadline_s <= 0 or args.mesh_silence_s <= 0:
        parser.error("--deadline-s and --mesh-silence-s must be positive")
    if args.width < 16 or args.height < 16:
        parser.error("--width and --height must be at least 16")
    if not args.target:
        parser.error("--target needs at least one label")
    if args.follow.strip() == UNKNOWN:
        parser.error(
            f"--follow needs a person's name ({UNKNOWN!r} is what the mesh calls a face it cannot name)"
        )
    if args.bridge_timeout_s <= 0:
        parser.error("--bridge-timeout-s must be positive")
    if args.view_port < -1 or args.view_port > 65535:
        parser.error(f"--view-port must be -1..65535, got {args.view_port}")


def settings_from(args: argparse.Namespace) -> tuple[LinkSettings, PilotSettings, RuntimeSettings]:
    link = LinkSettings(
        address=args.mesh_addr,
        protocol=args.protocol,
        deadline_s=args.deadline_s,
        engines=args.engines,
        source_id=args.source_id,
        user_id=args.user_id,
        tls=args.tls,
        tls_ca_file=args.tls_ca_file,
        tls_cert_file=args.tls_cert_file,
        tls_key_file=args.tls_key_file,
        token=read_token(args.token_file) if args.token_file else "",
    )
    pilot = PilotSettings(
        tracker=TrackerSettings(max_missed=args.max_missed),
        behavior=BehaviorSettings(
            wakeup_s=args.wakeup_s,
            search_timeout_s=args.search_timeout_s,
            lost_grace_s=args.lost_grace_s,
            explore_timeout_s=args.explore_timeout_s,
            idle_explore_after_s=args.idle_explore_after_s,
            hit_recovery_s=args.hit_recovery_s,
            search_yaw_dps=args.search_yaw_dps,
        ),
        controller=ControllerSettings(
            yaw_gain_dps=args.yaw_gain,
            yaw_deadband=args.yaw_deadband,
            max_yaw_dps=args.max_yaw_dps,
            desired_height=args.desired_height,
            forward_gain_mps=args.forward_gain,
            forward_deadband=args.forward_deadband,
            max_forward_mps=args.max_forward_mps,
            max_backward_mps=args.max_backward_mps,
        ),
        target_labels=args.target,
        follow=args.follow.strip() or None,
    )
    runtime = RuntimeSettings(
        mesh_silence_s=args.mesh_silence_s,
        max_fps=args.fps,
        native_rate=args.native_rate,
        max_frames=args.frames,
    )
    return link, pilot, runtime


def bridge_settings_from(args: argparse.Namespace) -> BridgeSettings:
    """The RoboMaster bridge driver's settings; the SDK connection flags go to a spawned bridge."""
    return BridgeSettings(
        address=args.bridge_addr,
        timeout_s=args.bridge_timeout_s,
        spawn_python=args.spawn_bridge,
        conn_type=args.robomaster_conn,
        sn=args.robomaster_sn,
    )


def sim_world_from(args: argparse.Namespace) -> SimWorld | None:
    """The simulated world `--source` asks for, or None for a real source."""
    if args.source == "sim":
        return follow_world()
    if args.source == "sim:people":
        return named_world(args.sim_photo_dir)
    return None
