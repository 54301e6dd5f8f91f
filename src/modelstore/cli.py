"""`python -m modelstore`: list, show, publish, promote, roll back, pin and verify versions.

Global flags have environment twins (MODELSTORE_URL, ...) so a pod and a laptop shell
configure the CLI the same way as the services. Output is for people by default; `--json`
prints the same facts as JSON for scripts. Errors go to stderr with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from liquidedge.config import EnvDefaultsParser, add_log_flags
from liquidedge.logs import configure_logging
from modelstore import open_store
from modelstore.channels import ChannelState
from modelstore.errors import ModelStoreError, NotFoundError
from modelstore.events import DEFAULT_TOPIC
from modelstore.fetch import DEFAULT_CACHE, fetch_verified
from modelstore.store import PARENT_LATEST, ModelStore, StoredVersion

log = logging.getLogger(__name__)

DEFAULT_STORE = "var/modelstore"
DEFAULT_TRIGGER_DIR = "var/triggers"


def add_store_flags(parser: EnvDefaultsParser) -> None:
    """Where the store is: shared by this CLI, the ingest service and the trainer."""
    parser.env_flag(
        "--store",
        "MODELSTORE_URL",
        default=DEFAULT_STORE,
        help="model store: a directory (the default backend) or s3://bucket/prefix",
    )
    parser.env_flag(
        "--s3-endpoint",
        "MODELSTORE_S3_ENDPOINT",
        default="",
        help="S3 endpoint URL for MinIO or another S3-compatible server (empty: AWS or AWS_ENDPOINT_URL)",
    )


def add_trigger_flags(parser: EnvDefaultsParser) -> None:
    """How the ingest tells the trainer about a new dataset: Kafka, or a queue directory."""
    parser.env_flag(
        "--kafka-bootstrap",
        "KAFKA_BOOTSTRAP_SERVERS",
        default="",
        help="Kafka brokers (host:port,...) for dataset triggers; empty: use --trigger-dir",
    )
    parser.env_flag(
        "--kafka-topic", "DATASET_TOPIC", default=DEFAULT_TOPIC, help="Kafka topic of dataset triggers"
    )
    parser.env_flag(
        "--trigger-dir",
        "TRIGGER_DIR",
        default=DEFAULT_TRIGGER_DIR,
        help="queue directory for dataset triggers when no Kafka broker is configured",
    )


def open_store_from(args: argparse.Namespace) -> ModelStore:
    return open_store(args.store, s3_endpoint=args.s3_endpoint)


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="python -m modelstore", description=__doc__.split("\n\n")[0])
    add_store_flags(parser)
    parser.env_flag(
        "--cache-dir",
        "MODELSTORE_CACHE_DIR",
        default=DEFAULT_CACHE,
        help="where `verify` fetches versions to (the cache services load from)",
    )
    add_log_flags(parser, level="WARNING", with_format=False)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    kind = argparse.ArgumentParser(add_help=False)
    kind.add_argument("--kind", default="model", choices=["model", "dataset"], help="what is stored")
    channel = argparse.ArgumentParser(add_help=False)
    channel.add_argument("--channel", default="production", help="channel name")

    sub = commands.add_parser("list", parents=[kind], help="names, or the versions of one name")
    sub.add_argument("name", nargs="?", help="list this name's versions")

    sub = commands.add_parser("show", parents=[kind], help="print a version's manifest")
    sub.add_argument("name")
    sub.add_argument("version", nargs="?", help="default: the version --channel points at")
    sub.add_argument("--channel", default="production", help="channel to read when no version is given")

    sub = commands.add_parser("publish", parents=[kind], help="publish a directory as a new version")
    sub.add_argument("name")
    sub.add_argument("directory", type=Path)
    sub.add_argument(
        "--engine", required=True, help="engine the version is for: yolo, face-gallery, classifier"
    )
    sub.add_argument("--format", required=True, help="file format, e.g. darknet")
    sub.add_argument("--version", help="version name (default: <UTC time>-<content hash>)")
    sub.add_argument("--parent", default=PARENT_LATEST, help="parent version (default: the latest)")
    sub.add_argument("--no-parent", action="store_true", help="record no parent version")
    sub.add_argument("--include", action="append", help="glob of files to include (repeatable; default all)")
    sub.add_argument("--metric", action="append", type=_key_value, default=[], help="KEY=VALUE metric")
    sub.add_argument("--meta", action="append", type=_key_value, default=[], help="KEY=VALUE metadata")
    sub.add_argument("--promote", metavar="CHANNEL", help="also point this channel at the new version")
    sub.add_argument(
        "--if-channel-empty",
        action="store_true",
        help="with --promote: publish nothing when the channel already points at a version "
        "(a default that must not replace what an operator published)",
    )

    sub = commands.add_parser("promote", parents=[kind, channel], help="point a channel at a version")
    sub.add_argument("name")
    sub.add_argument("version")
    sub.add_argument("--note", default="", help="why (kept in the channel's log)")
    sub.add_argument("--force", action="store_true", help="move a pinned channel anyway")

    sub = commands.add_parser("rollback", parents=[kind, channel], help="point a channel back one move")
    sub.add_argument("name")
    sub.add_argument("--note", default="", help="why (kept in the channel's log)")
    sub.add_argument("--force", action="store_true", help="move a pinned channel anyway")

    sub = commands.add_parser("channel", parents=[kind], help="where channels point, pins and history")
    sub.add_argument("name")
    sub.add_argument("--channel", help="only this channel (default: all)")

    sub = commands.add_parser(
        "pin", parents=[kind, channel], help="freeze a channel (optionally on a version)"
    )
    sub.add_argument("name")
    sub.add_argument("version", nargs="?", help="move the channel here first")
    sub.add_argument("--reason", required=True, help="shown to whoever tries to move the channel")

    sub = commands.add_parser("unpin", parents=[kind, channel], help="let a pinned channel move again")
    sub.add_argument("name")

    sub = commands.add_parser(
        "verify", parents=[kind], help="download a version into the cache and verify every file"
    )
    sub.add_argument("name")
    sub.add_argument("version", nargs="?", help="default: the version --channel points at")
    sub.add_argument("--channel", default="production", help="channel to read when no version is given")
    sub.add_argument("--engine", help="refuse a version made for another engine")
    return parser


def _version_row(stored: StoredVersion, channels: list[ChannelState]) -> dict[str, Any]:
    m = stored.manifest
    return {
        "version": m.version,
        "created": m.created,
        "engine": m.engine,
        "format": m.format,
        "files": len(m.files),
        "bytes": m.total_bytes,
        "parent": m.parent,
        "metrics": dict(m.metrics),
        "channels": [c.channel for c in channels if c.version == m.version],
    }


def _compact(value: Any) -> str:
    return (
        json.dumps(value, separators=(",", ":"), sort_keys=True)
        if isinstance(value, dict | list)
        else str(value)
    )


def _channel_dict(state: ChannelState) -> dict[str, Any]:
    return json.loads(state.to_json())


def _channel_text(state: ChannelState) -> str:
    lines = [f"{state.name} channel {state.channel}: {state.version} (since {state.updated})"]
    lines.append(f"  manifest sha256 {state.manifest_sha256}")
    if state.pinned is not None:
        lines.append(f"  PINNED since {state.pinned.at}: {state.pinned.reason}")
    else:
        lines.append("  not pinned")
    lines.append(f"  rollback goes to: {state.previous[-1] if state.previous else '(nothing earlier)'}")
    for event in state.log[-10:]:
        note = f" ({event.note})" if event.note else ""
        lines.append(f"  {event.at} {event.action} {event.version or ''}{note}")
    return "\n".join(lines)


def _resolve(store: ModelStore, args: argparse.Namespace) -> str:
    if args.version:
        return args.version
    state = store.channel(args.name, args.channel, args.kind)
    if state is None:
        raise NotFoundError(f"{args.kind} {args.name} has no channel {args.channel}; name a version")
    return state.version


Result = tuple[str, Any]


def _list(store: ModelStore, args: argparse.Namespace) -> Result:
    if args.name is None:
        rows = []
        for name in store.names(args.kind):
            channels = {c.channel: c.version for c in store.channels(name, args.kind)}
            rows.append(
                {"name": name, "versions": len(store.versions(name, args.kind)), "channels": channels}
            )
        text = "\n".join(
            f"{r['name']}  {r['versions']} versions  "
            + " ".join(f"{c}={v}" for c, v in sorted(r["channels"].items()))
            for r in rows
        )
        return text or f"no {args.kind}s in {store.url}", rows
    channels = store.channels(args.name, args.kind)
    rows = [_version_row(v, channels) for v in store.versions(args.name, args.kind)]
    if not rows:
        raise NotFoundError(f"{args.kind} {args.name} has no published version in {store.url}")
    text = "\n".join(
        f"{r['version']}  {r['created']}  {r['engine']}/{r['format']}  {r['files']} files  "
        f"{r['bytes']} bytes  parent={r['parent'] or '-'}"
        + "".join(f"  {k}={_compact(v)}" for k, v in sorted(r["metrics"].items()))
        + "".join(f"  [{c}]" for c in r["channels"])
        for r in rows
    )
    return text, rows


def _show(store: ModelStore, args: argparse.Namespace) -> Result:
    stored = store.get(args.name, _resolve(store, args), args.kind)
    text = stored.manifest_bytes.decode().rstrip("\n")
    return text, json.loads(text)


def _publish(store: ModelStore, args: argparse.Namespace) -> Result:
    if args.if_channel_empty:
        if not args.promote:
            raise ValueError("--if-channel-empty goes with --promote CHANNEL")
        serving = store.channel(args.name, args.promote, args.kind)
        if serving is not None:
            text = (
                f"{args.name}: channel {serving.channel} already serves {serving.version}; nothing published"
            )
            return text, {"name": args.name, "published": False, "channel": _channel_dict(serving)}
    stored = store.publish_dir(
        args.name,
        args.directory,
        include=args.include or ("*",),
        engine=args.engine,
        format=args.format,
        kind=args.kind,
        version=args.version,
        parent=None if args.no_parent else args.parent,
        metrics=dict(args.metric),
        meta=dict(args.meta),
    )
    m = stored.manifest
    text = f"published {m.name} {m.version} ({len(m.files)} files, {m.total_bytes} bytes)"
    data: dict[str, Any] = {"name": m.name, "version": m.version, "manifest_sha256": stored.manifest_sha256}
    if args.promote:
        state = store.promote(m.name, m.version, args.promote, kind=args.kind, note="published")
        text += f"\n{m.name}: channel {state.channel} -> {state.version}"
        data["channel"] = _channel_dict(state)
    return text, data


def _promote(store: ModelStore, args: argparse.Namespace) -> Result:
    state = store.promote(
        args.name, args.version, args.channel, kind=args.kind, note=args.note, force=args.force
    )
    was = state.previous[-1] if state.previous else "nothing"
    return f"{state.name}: channel {state.channel} -> {state.version} (was {was})", _channel_dict(state)


def _rollback(store: ModelStore, args: argparse.Namespace) -> Result:
    before = store.channel(args.name, args.channel, args.kind)
    state = store.rollback(args.name, args.channel, kind=args.kind, note=args.note, force=args.force)
    text = f"{state.name}: channel {state.channel} rolled back to {state.version} (from {before.version if before else '?'})"
    return text, _channel_dict(state)


def _channel(store: ModelStore, args: argparse.Namespace) -> Result:
    states = store.channels(args.name, args.kind)
    if args.channel:
        states = [s for s in states if s.channel == args.channel]
    if not states:
        raise NotFoundError(f"{args.kind} {args.name} has no channel {args.channel or ''}".rstrip())
    return "\n".join(_channel_text(s) for s in states), [_channel_dict(s) for s in states]


def _pin(store: ModelStore, args: argparse.Namespace) -> Result:
    state = store.pin(args.name, args.channel, reason=args.reason, version=args.version, kind=args.kind)
    return f"{state.name}: channel {state.channel} pinned to {state.version}", _channel_dict(state)


def _unpin(store: ModelStore, args: argparse.Namespace) -> Result:
    state = store.unpin(args.name, args.channel, kind=args.kind)
    return f"{state.name}: channel {state.channel} unpinned (at {state.version})", _channel_dict(state)


def _verify(store: ModelStore, args: argparse.Namespace) -> Result:
    local = fetch_verified(
        store,
        args.name,
        _resolve(store, args),
        args.cache_dir,
        kind=args.kind,
        expect_engine=args.engine,
        refetch=True,
    )
    m = local.manifest
    text = f"verified {m.name} {m.version}: {len(m.files)} files, {m.total_bytes} bytes, SHA-256 OK in {local.path}"
    return text, {"name": m.name, "version": m.version, "path": str(local.path), "files": len(m.files)}


COMMANDS = {
    "list": _list,
    "show": _show,
    "publish": _publish,
    "promote": _promote,
    "rollback": _rollback,
    "channel": _channel,
    "pin": _pin,
    "unpin": _unpin,
    "verify": _verify,
}


def run(args: argparse.Namespace, out: TextIO) -> int:
    text, data = COMMANDS[args.command](open_store_from(args), args)
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else text, file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging("modelstore", args.log_level, fmt="text")
    try:
        return run(args, sys.stdout)
    except (ModelStoreError, ValueError, OSError) as error:
        print(f"modelstore: error: {error}", file=sys.stderr)
        return 1
