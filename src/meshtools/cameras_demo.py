"""The camera side, working, for a newcomer: the mesh, the gateway on :8080 and two cameras.

Starts face, YOLO and the aggregator (local processes), the camera gateway (a process, as in
production) and two emulated ESP32-CAM cameras (processes too) that register themselves the
way field cameras do. Then prints where the dashboard is. With `--kafka`, a local Kafka-protocol
broker (Tansu) runs too and every answer is published on its events topic.

Camera tokens come from the file named by CAMERA_TOKENS_FILE; when unset, one is created
(with a random token) and its path printed, so a real ESP32-CAM can register with it too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from liquidedge.config import EnvDefaultsParser, parse_bool
from liquidedge.logs import configure_logging
from liquidedge.security import read_token
from liquidedge.server import wait_for_signal
from meshtools.localmesh import LocalMesh, free_port, start_process

log = logging.getLogger("meshtools.cameras_demo")

# Two cameras with different scenes: a face (astronaut) and persons (cameraman), cats, a cup.
CAMERAS = (("lobby", "samples:astronaut,coffee,chelsea"), ("yard", "samples:camera,rocket"))


def build_parser() -> EnvDefaultsParser:
    p = EnvDefaultsParser(prog="cameras-demo", description=__doc__)
    p.env_flag("--model-dir", "LIQUIDEDGE_MODEL_DIR", default="models", help="where `make models` put YOLO")
    p.env_flag("--port", "DEMO_GATEWAY_PORT", default=8080, type=int, help="the gateway's HTTP port")
    p.env_flag("--mesh-port", "DEMO_PORT", default=50051, type=int, help="aggregator port")
    p.env_flag(
        "--mesh-addr",
        "DEMO_MESH_ADDR",
        default="",
        help="use the mesh already running there (e.g. make run's) instead of starting one",
    )
    p.env_flag(
        "--fps", "DEMO_CAMERA_FPS", default=5.0, type=float, help="frames per second each camera serves"
    )
    p.env_flag("--tokens-file", "CAMERA_TOKENS_FILE", default="", help="camera tokens; created when unset")
    p.env_flag(
        "--state-dir", "DEMO_STATE_DIR", default="build/cameras-demo", help="where created token files go"
    )
    p.env_flag("--kafka", "DEMO_KAFKA", default=False, type=parse_bool, help="also run a local Kafka broker")
    p.env_flag("--kafka-port", "DEMO_KAFKA_PORT", default=9092, type=int, help="the local broker's port")
    p.env_flag("--seconds", "DEMO_SECONDS", default=0.0, type=float, help="stop after this long, 0 = Ctrl-C")
    return p


def token_file(path: str, state_dir: Path, name: str) -> tuple[Path, bool]:
    """An existing token file, or a new one with a random token (True when created)."""
    if path:
        return Path(path), False
    state_dir.mkdir(parents=True, exist_ok=True)
    created = state_dir / name
    if not created.is_file():
        created.write_text(secrets.token_urlsafe(18) + "\n")
        created.chmod(0o600)
    return created, True


def wait_ready(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1.0) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready within {timeout_s:g}s")


@dataclass(frozen=True)
class CameraSide:
    """What the camera side needs from its caller: where the mesh is and how to run the gateway."""

    mesh_address: str
    port: int = 8080
    fps: float = 5.0
    tokens_file: str = ""
    state_dir: Path = Path("build/cameras-demo")
    photo_dir: Path | None = None
    kafka_port: int = 0  # 0: no Kafka


def start_camera_side(stack: contextlib.ExitStack, side: CameraSide) -> list[str]:
    """The gateway and two emulated cameras (and a Kafka broker), closed with `stack`.

    Returns the lines that tell a newcomer where to look. One camera shows the default gallery's
    people when their photos are there (so names come up on the dashboard), the other the samples.
    """
    tokens, tokens_created = token_file(side.tokens_file, side.state_dir, "camera-tokens.txt")
    operator, _ = token_file("", side.state_dir, "operator-token.txt")
    camera_token = read_token(str(tokens))
    gateway_url = f"http://127.0.0.1:{side.port}"
    kafka: list[str] = []
    if side.kafka_port:
        from meshtools.kafka_broker import LocalBroker

        broker = LocalBroker(side.kafka_port).start()
        stack.callback(broker.stop)
        kafka = ["--kafka-bootstrap", broker.bootstrap]
    start_process(
        stack,
        [
            sys.executable, "-m", "cameragateway",
            "--port", str(side.port),
            "--mesh-addr", side.mesh_address,
            "--camera-tokens-file", str(tokens),
            "--operator-token-file", str(operator),
            "--log-format", "text",
            "--log-level", "WARNING",
            *kafka,
        ],
    )  # fmt: skip
    wait_ready(gateway_url + "/readyz")
    people = side.photo_dir is not None and any(Path(side.photo_dir).glob("*.jpg"))
    cameras = (("lobby", f"people:{side.photo_dir}" if people else CAMERAS[0][1]), CAMERAS[1])
    for camera_id, source in cameras:
        start_process(
            stack,
            [
                sys.executable, "-m", "meshtools.camera_emulator",
                "--source", source,
                "--fps", str(side.fps),
                "--port", str(free_port()),
                "--register", gateway_url,
                "--token", camera_token,
                "--id", camera_id,
            ],
        )  # fmt: skip
    lines = [
        f"  Dashboard:        {gateway_url}/            (per camera: {gateway_url}/camera/lobby)",
        f"  Old bookmarks:    {gateway_url}/video_feed  (all cameras, tiled MJPEG)",
        f"  Camera tokens:    {tokens}"
        + ("  (created: CAMERA_TOKENS_FILE was unset)" if tokens_created else ""),
        f"  Operator token:   {operator}  (Manage, on the dashboard, asks for it)",
        f"  A real ESP32-CAM: GET http://<this machine>:{side.port}/register?ip=<its address>&token=<a camera token>"
        + (
            ""
            if os.environ.get("BIND_HOST", "127.0.0.1") != "127.0.0.1"
            else "  (start with BIND_HOST=0.0.0.0)"
        ),
    ]
    if kafka:
        lines.append(f"  Kafka:            {kafka[1]}, events on topic liquidedge.events")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("cameras-demo", "INFO", "text")
    with contextlib.ExitStack() as stack:
        mesh_address = args.mesh_addr
        if not mesh_address:
            mesh = LocalMesh(model_dir=args.model_dir, aggregator_port=args.mesh_port)
            mesh.start()
            stack.callback(mesh.stop)
            mesh_address = mesh.address
        side = CameraSide(
            mesh_address,
            port=args.port,
            fps=args.fps,
            tokens_file=args.tokens_file,
            state_dir=Path(args.state_dir),
            kafka_port=args.kafka_port if args.kafka else 0,
        )
        lines = start_camera_side(stack, side)
        log.info("\n".join(["", *lines, "  Ctrl-C stops everything.\n"]))
        if args.seconds > 0:
            time.sleep(args.seconds)
        else:
            wait_for_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
