"""The dataset ingest service: flags, then the store, the trigger and the HTTP server.

`build_parser()` and `start(args)` are importable (tests and a local launcher start the
service the way its `__main__` does); `__main__` only calls `main()`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from datasetingest.archive import ArchiveLimits
from datasetingest.ingest import Ingestor
from datasetingest.server import IngestServer
from liquidedge.config import EnvDefaultsParser, add_log_flags, parse_bool
from liquidedge.logs import configure_logging
from liquidedge.security import is_loopback, read_tokens
from modelstore.cli import add_store_flags, add_trigger_flags, open_store_from
from modelstore.events import TriggerSink, open_sink

log = logging.getLogger(__name__)

DEFAULT_PORT = 8090
_LIMITS = ArchiveLimits()


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(
        prog="datasetingest", description="Labelled-image zip uploads into the model store."
    )
    parser.env_flag("--host", "BIND_HOST", default="127.0.0.1", help="address to bind the HTTP port to")
    parser.env_flag("--port", "PORT", default=DEFAULT_PORT, type=int, help="HTTP port (0 picks a free one)")
    add_store_flags(parser)
    add_trigger_flags(parser)
    parser.env_flag("--work-dir", "INGEST_WORK_DIR", default="var/ingest", help="scratch space for uploads")
    parser.env_flag(
        "--max-upload-bytes",
        "INGEST_MAX_UPLOAD_BYTES",
        default=256 * 1024 * 1024,
        type=int,
        help="largest upload",
    )
    parser.env_flag(
        "--max-image-bytes",
        "INGEST_MAX_IMAGE_BYTES",
        default=_LIMITS.max_image_bytes,
        type=int,
        help="largest image in the zip (uncompressed)",
    )
    parser.env_flag(
        "--max-total-bytes",
        "INGEST_MAX_TOTAL_BYTES",
        default=_LIMITS.max_total_bytes,
        type=int,
        help="largest uncompressed total of the zip",
    )
    parser.env_flag(
        "--max-entries",
        "INGEST_MAX_ENTRIES",
        default=_LIMITS.max_entries,
        type=int,
        help="most entries in the zip",
    )
    parser.env_flag(
        "--max-ratio",
        "INGEST_MAX_RATIO",
        default=_LIMITS.max_ratio,
        type=float,
        help="highest compression ratio of an entry (zip bombs expand 1000:1)",
    )
    parser.env_flag(
        "--max-pixels",
        "INGEST_MAX_PIXELS",
        default=_LIMITS.max_pixels,
        type=int,
        help="largest image, width x height",
    )
    parser.env_flag(
        "--min-images-per-label",
        "INGEST_MIN_IMAGES_PER_LABEL",
        default=_LIMITS.min_images_per_label,
        type=int,
        help="fewest images a label needs",
    )
    parser.env_flag(
        "--max-concurrent",
        "INGEST_MAX_CONCURRENT",
        default=2,
        type=int,
        help="uploads processed at once (429 beyond)",
    )
    parser.env_flag(
        "--auth-tokens-file",
        "AUTH_TOKENS_FILE",
        default="",
        help="require 'Authorization: Bearer <token>' with a token from this file",
    )
    parser.env_flag(
        "--allow-plaintext",
        "ALLOW_PLAINTEXT",
        default=False,
        type=parse_bool,
        help="allow plain HTTP on a non-loopback address (when a mesh such as Istio encrypts)",
    )
    add_log_flags(parser)
    return parser


def limits_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ArchiveLimits:
    if args.max_upload_bytes < 1 or args.max_concurrent < 1:
        parser.error("--max-upload-bytes and --max-concurrent must be at least 1")
    if not is_loopback(args.host) and not args.allow_plaintext:
        parser.error(
            f"refusing plain HTTP on {args.host}: set --allow-plaintext when a service mesh encrypts"
        )
    try:
        return ArchiveLimits(
            max_entries=args.max_entries,
            max_image_bytes=args.max_image_bytes,
            max_total_bytes=args.max_total_bytes,
            max_ratio=args.max_ratio,
            max_pixels=args.max_pixels,
            min_images_per_label=args.min_images_per_label,
        )
    except ValueError as error:
        parser.error(str(error))


@dataclass
class IngestHandle:
    server: IngestServer
    sink: TriggerSink

    @property
    def port(self) -> int:
        return self.server.port

    def stop(self) -> None:
        self.server.stop()
        self.sink.close()


def start(args: argparse.Namespace, limits: ArchiveLimits) -> IngestHandle:
    """Open the store and the trigger, then serve; closes what it opened if a step fails."""
    tokens = read_tokens(args.auth_tokens_file) if args.auth_tokens_file else frozenset()
    store = open_store_from(args)
    sink = open_sink(
        kafka_bootstrap=args.kafka_bootstrap, topic=args.kafka_topic, queue_dir=Path(args.trigger_dir)
    )
    try:
        ingestor = Ingestor(store, sink, limits, Path(args.work_dir))
        server = IngestServer(
            args.host,
            args.port,
            ingestor,
            max_upload_bytes=args.max_upload_bytes,
            max_concurrent=args.max_concurrent,
            tokens=tokens,
        ).start()
    except BaseException:
        sink.close()
        raise
    log.info("datasets go to %s; triggers to %s", store.url, sink.describe)
    return IngestHandle(server, sink)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    limits = limits_from(parser, args)
    configure_logging("datasetingest", args.log_level, args.log_format)
    handle = start(args, limits)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    handle.stop()
    return 0
