"""Flags with environment-variable twins, read once at start-up.

Every option is a command-line flag whose default comes from an environment variable when
that is set (so Kubernetes ConfigMaps and a laptop shell configure the same program), and
from a documented constant otherwise. The README's configuration table lists them all.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from liquidedge.security import is_loopback, read_tokens, server_credentials


class EnvDefaultsParser(argparse.ArgumentParser):
    """ArgumentParser whose `env_flag` ties each flag to an environment variable."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        self.env_names: dict[str, str] = {}

    def env_flag(
        self,
        flag: str,
        env: str,
        *,
        default: Any,
        type: Callable[[str], Any] = str,
        help: str,
        **kwargs: Any,
    ) -> None:
        raw = os.environ.get(env)
        value = default
        if raw is not None and raw != "":
            try:
                value = type(raw)
            except (TypeError, ValueError) as error:
                self.error(f"environment variable {env}={raw!r} is invalid for {flag}: {error}")
        self.env_names[flag] = env
        self.add_argument(flag, default=value, type=type, help=f"{help} [env {env}]", **kwargs)


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {text!r}")


def parse_csv(text: str) -> tuple[str, ...]:
    """A comma-separated flag value as its non-empty, stripped items."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_common_flags(
    parser: EnvDefaultsParser, *, port: int, metrics_port: int, max_in_flight: int, workers: int | None = 16
) -> None:
    """Flags every service has: where to listen, limits, logging, shutdown.

    `workers` None: the service runs on an asyncio loop and has no worker threads to size.
    """
    parser.env_flag("--host", "BIND_HOST", default="127.0.0.1", help="address to bind the gRPC port to")
    parser.env_flag("--port", "PORT", default=port, type=int, help="gRPC port (0 picks a free one)")
    parser.env_flag(
        "--metrics-port",
        "METRICS_PORT",
        default=metrics_port,
        type=int,
        help="Prometheus /metrics port, -1 disables",
    )
    if workers is not None:
        parser.env_flag(
            "--workers",
            "WORKERS",
            default=workers,
            type=int,
            help="gRPC worker threads (an open stream holds one)",
        )
    parser.env_flag(
        "--max-in-flight",
        "MAX_IN_FLIGHT",
        default=max_in_flight,
        type=int,
        help="frames processed at once; more are refused with RESOURCE_EXHAUSTED (0 = no limit)",
    )
    parser.env_flag(
        "--max-frame-bytes",
        "MAX_FRAME_BYTES",
        default=8 * 1024 * 1024,
        type=int,
        help="largest JPEG frame accepted",
    )
    parser.env_flag(
        "--max-pixels",
        "MAX_PIXELS",
        default=4096 * 4096,
        type=int,
        help="largest frame accepted, width x height",
    )
    parser.env_flag(
        "--shutdown-grace-s",
        "SHUTDOWN_GRACE_S",
        default=5.0,
        type=float,
        help="drain time for in-flight calls",
    )
    parser.env_flag("--tls-cert", "TLS_CERT_FILE", default="", help="serve TLS with this certificate (PEM)")
    parser.env_flag("--tls-key", "TLS_KEY_FILE", default="", help="private key of --tls-cert (PEM)")
    parser.env_flag(
        "--tls-client-ca",
        "TLS_CLIENT_CA_FILE",
        default="",
        help="require client certificates signed by this CA (mTLS)",
    )
    parser.env_flag(
        "--auth-tokens-file",
        "AUTH_TOKENS_FILE",
        default="",
        help="require 'authorization: Bearer <token>' with a token from this file (one per line)",
    )
    parser.env_flag(
        "--legacy-auth",
        "LEGACY_AUTH",
        default="user-id",
        choices=["user-id", "token"],
        help="legacy protocol: its user_id check alone, or bearer tokens too",
    )
    parser.env_flag(
        "--allow-plaintext",
        "ALLOW_PLAINTEXT",
        default=False,
        type=parse_bool,
        help="allow plaintext gRPC on a non-loopback address (when a mesh such as Istio encrypts)",
    )
    add_log_flags(parser)


def add_log_flags(parser: EnvDefaultsParser, *, level: str = "INFO", with_format: bool = True) -> None:
    """--log-level, and unless `with_format` is off --log-format: every service's, every job's."""
    parser.env_flag("--log-level", "LOG_LEVEL", default=level, help="DEBUG, INFO, WARNING or ERROR")
    if with_format:
        parser.env_flag(
            "--log-format", "LOG_FORMAT", default="json", choices=["json", "text"], help="log line format"
        )


def check_common(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fail fast with a readable message instead of a stack trace later."""
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, got {args.port}")
    if args.max_in_flight < 0:
        parser.error(f"--max-in-flight must be >= 0, got {args.max_in_flight}")
    if vars(args).get("workers", 1) < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.max_frame_bytes < 1024:
        parser.error(f"--max-frame-bytes must be at least 1024, got {args.max_frame_bytes}")
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        parser.error("--tls-client-ca (mTLS) needs --tls-cert and --tls-key")
    if not args.tls_cert and not is_loopback(args.host) and not args.allow_plaintext:
        parser.error(
            f"refusing plaintext gRPC on {args.host}: set --tls-cert/--tls-key, or --allow-plaintext "
            "(ALLOW_PLAINTEXT=true) when a service mesh encrypts the traffic"
        )
    try:
        if args.tls_cert:
            server_credentials(args.tls_cert, args.tls_key, args.tls_client_ca)
        if args.auth_tokens_file:
            read_tokens(args.auth_tokens_file)
    except ValueError as error:
        parser.error(str(error))
    if args.max_pixels < 1:
        parser.error(f"--max-pixels must be positive, got {args.max_pixels}")
