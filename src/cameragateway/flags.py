"""The camera gateway's flags (each with an environment twin) and their start-up checks.

Read once at start-up, validated before anything is started: a bad value stops the program
with a message that names the flag, never a stack trace later.
"""

from __future__ import annotations

import argparse

from cameragateway.registration import RegistrationError, read_cameras_file
from liquidedge.config import EnvDefaultsParser, parse_bool, parse_csv
from liquidedge.security import holds_placeholder, is_loopback

DEFAULT_PORT = 8080
PROTOCOL = "http"  # what DEFAULT_PORT serves (the other programs serve gRPC)
DEFAULT_METRICS_PORT = 9180


def build_parser() -> EnvDefaultsParser:
    p = EnvDefaultsParser(
        prog="cameragateway",
        description="Camera gateway: network cameras register and stream MJPEG; every frame goes "
        "through the mesh; a live dashboard and Kafka events show the answers.",
    )
    f = p.env_flag
    f("--host", "BIND_HOST", default="127.0.0.1", help="address to bind the HTTP port to")
    f(
        "--port",
        "PORT",
        default=DEFAULT_PORT,
        type=int,
        help="HTTP port: registration, dashboard, /video_feed",
    )
    f(
        "--metrics-port",
        "METRICS_PORT",
        default=DEFAULT_METRICS_PORT,
        type=int,
        help="Prometheus /metrics port, -1 disables",
    )
    f("--mesh-addr", "OBJECTDETECTION_ADDR", default="localhost:50051", help="the aggregator's address")
    f("--mesh-token-file", "MESH_TOKEN_FILE", default="", help="bearer token the aggregator requires, if any")
    f("--mesh-tls-ca", "MESH_TLS_CA_FILE", default="", help="TLS to the aggregator, trusting this CA")
    f(
        "--camera-tokens-file",
        "CAMERA_TOKENS_FILE",
        default="",
        help="tokens cameras register with, one per line; unset: /register refuses every camera",
    )
    f(
        "--operator-token-file",
        "OPERATOR_TOKEN_FILE",
        default="",
        help="token that lets the dashboard add and remove cameras; unset: nobody can",
    )
    f(
        "--max-cameras",
        "MAX_CAMERAS",
        default=64,
        type=int,
        help="most cameras pulled at once; more are refused (429)",
    )
    f(
        "--cameras-file",
        "CAMERAS_FILE",
        default="",
        help="cameras to pull from the start: '<id> <address or URL>' per line",
    )
    f(
        "--stream-path",
        "CAMERA_STREAM_PATH",
        default="/stream",
        help="path of a registered camera's MJPEG stream",
    )
    f(
        "--max-fps",
        "CAMERA_MAX_FPS",
        default=5.0,
        type=float,
        help="most frames per second sent to the mesh per camera",
    )
    f(
        "--max-in-flight",
        "CAMERA_MAX_IN_FLIGHT",
        default=4,
        type=int,
        help="most frames in the mesh at once over all cameras; the gateway lowers it while deadlines are missed",
    )
    f("--deadline-ms", "CAMERA_DEADLINE_MS", default=2000, type=int, help="per-frame deadline at the mesh")
    f(
        "--engines",
        "CAMERA_ENGINES",
        default="",
        type=parse_csv,
        help="engines to ask for, comma-separated; empty = all",
    )
    f("--min-confidence", "CAMERA_MIN_CONFIDENCE", default=0.0, type=float, help="drop detections below this")
    f(
        "--offline-after-s",
        "CAMERA_OFFLINE_AFTER_S",
        default=5.0,
        type=float,
        help="no frame this long: offline",
    )
    f(
        "--remove-after-s",
        "CAMERA_REMOVE_AFTER_S",
        default=600.0,
        type=float,
        help="a registered camera offline this long is removed, 0 = never (cameras-file ones never are)",
    )
    f(
        "--degraded-window-s",
        "CAMERA_DEGRADED_WINDOW_S",
        default=10.0,
        type=float,
        help="a fault this recent shows the camera as degraded",
    )
    f(
        "--stall-timeout-s",
        "CAMERA_STALL_TIMEOUT_S",
        default=5.0,
        type=float,
        help="no bytes or no whole frame this long: reconnect",
    )
    f(
        "--connect-timeout-s",
        "CAMERA_CONNECT_TIMEOUT_S",
        default=3.0,
        type=float,
        help="longest wait to connect to a camera",
    )
    f(
        "--reconnect-max-s",
        "CAMERA_RECONNECT_MAX_S",
        default=10.0,
        type=float,
        help="longest back-off between reconnects",
    )
    f(
        "--max-part-bytes",
        "CAMERA_MAX_PART_BYTES",
        default=4 * 1024 * 1024,
        type=int,
        help="largest MJPEG part accepted; a larger one drops the connection",
    )
    f(
        "--video-feed-fps",
        "VIDEO_FEED_FPS",
        default=5.0,
        type=float,
        help="frame rate of /video_feed and camera MJPEG views",
    )
    f(
        "--kafka-bootstrap",
        "KAFKA_BOOTSTRAP_SERVERS",
        default="",
        help="Kafka bootstrap servers; empty = Kafka off",
    )
    f(
        "--kafka-events-topic",
        "KAFKA_EVENTS_TOPIC",
        default="liquidedge.events",
        help="topic every answer is published to",
    )
    f(
        "--kafka-frames-topic",
        "KAFKA_FRAMES_TOPIC",
        default="liquidedge.frames",
        help="topic of JPEG frames to detect (key = camera id); empty = do not consume",
    )
    f("--kafka-group", "KAFKA_GROUP_ID", default="cameragateway", help="consumer group of the frames topic")
    f(
        "--kafka-create-topics",
        "KAFKA_CREATE_TOPICS",
        default=True,
        type=parse_bool,
        help="create the topics at start when missing",
    )
    f(
        "--kafka-partitions",
        "KAFKA_PARTITIONS",
        default=3,
        type=int,
        help="partitions of topics the gateway creates",
    )
    f(
        "--kafka-buffer",
        "KAFKA_BUFFER_MESSAGES",
        default=10_000,
        type=int,
        help="most events held while the broker is away; more are dropped (and counted)",
    )
    f(
        "--kafka-message-timeout-s",
        "KAFKA_MESSAGE_TIMEOUT_S",
        default=10.0,
        type=float,
        help="an event not delivered within this is dropped (and counted)",
    )
    f(
        "--shutdown-grace-s",
        "SHUTDOWN_GRACE_S",
        default=5.0,
        type=float,
        help="on SIGTERM: not ready, then this long to flush",
    )
    f(
        "--allow-remote-plaintext",
        "ALLOW_PLAINTEXT",
        default=False,
        type=parse_bool,
        help="allow a plaintext mesh channel to a non-loopback aggregator (when a mesh such as Istio encrypts)",
    )
    f("--log-level", "LOG_LEVEL", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    f("--log-format", "LOG_FORMAT", default="json", choices=["json", "text"], help="log line format")
    return p


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fail at start-up with a readable message, not later with a stack trace."""
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, got {args.port}")
    if args.max_cameras < 1:
        parser.error(f"--max-cameras must be at least 1, got {args.max_cameras}")
    if args.max_in_flight < 1:
        parser.error(f"--max-in-flight must be at least 1, got {args.max_in_flight}")
    positive = (
        "max_fps",
        "deadline_ms",
        "offline_after_s",
        "stall_timeout_s",
        "connect_timeout_s",
        "reconnect_max_s",
        "video_feed_fps",
    )
    for name in positive:
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.remove_after_s < 0 or args.degraded_window_s < 0 or args.shutdown_grace_s < 0:
        parser.error("--remove-after-s, --degraded-window-s and --shutdown-grace-s must be >= 0")
    if not 0.0 <= args.min_confidence <= 1.0:
        parser.error(f"--min-confidence must be in [0, 1], got {args.min_confidence}")
    if args.max_part_bytes < 1024:
        parser.error(f"--max-part-bytes must be at least 1024, got {args.max_part_bytes}")
    if not args.stream_path.startswith("/"):
        parser.error(f"--stream-path must start with '/', got {args.stream_path!r}")
    if args.kafka_buffer < 1 or args.kafka_partitions < 1 or args.kafka_message_timeout_s <= 0:
        parser.error("--kafka-buffer, --kafka-partitions and --kafka-message-timeout-s must be positive")
    host = args.mesh_addr.rsplit(":", 1)[0].strip("[]")
    if not args.mesh_tls_ca and not is_loopback(host) and not args.allow_remote_plaintext:
        parser.error(
            f"refusing a plaintext channel to {args.mesh_addr}: set --mesh-tls-ca, or ALLOW_PLAINTEXT=true "
            "when a service mesh encrypts the traffic"
        )
    try:
        for path in (args.camera_tokens_file, args.operator_token_file, args.mesh_token_file):
            if path and holds_placeholder(path):
                parser.error(
                    f"{path} still holds the placeholder token: put your own tokens in it (one per line)"
                )
        if (
            args.cameras_file
            and len(read_cameras_file(args.cameras_file, args.stream_path)) > args.max_cameras
        ):
            parser.error(f"{args.cameras_file} lists more cameras than --max-cameras {args.max_cameras}")
    except (ValueError, RegistrationError) as error:
        parser.error(str(error))
