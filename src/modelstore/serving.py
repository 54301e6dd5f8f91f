"""A model-serving service's side of the store: its flags, and a watcher that feeds its slot.

Every service that serves a model (YOLO, the face gallery, the classifier) takes the same
flags and wires the same way: a `ChannelWatcher` on its model's channel offers each verified
version to the service's `liquidedge.modelslot.ModelSlot`, which loads it beside the serving one
and swaps it in. A version the slot refuses is remembered by the watcher and not fetched again
until the channel moves. With no `--model-store` the service serves the files its other flags
name, as before, and nothing watches.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from liquidedge.config import EnvDefaultsParser
from liquidedge.modelslot import ModelSlot
from modelstore import open_store
from modelstore.fetch import LocalVersion
from modelstore.watch import ChannelUpdate, ChannelWatcher

M = TypeVar("M")

DEFAULT_CHANNEL = "production"
DEFAULT_CACHE = "var/modelcache"
DEFAULT_POLL_S = 2.0


def add_serving_flags(parser: EnvDefaultsParser, *, model_name: str, default_store: str = "") -> None:
    """The store flags of a model-serving service; `model_name` is its model's default name.

    `default_store`: for a service whose model only ever comes from the store (the face
    gallery), the store `make run` and the store CLI use by default.
    """
    parser.env_flag(
        "--model-store",
        "MODELSTORE_URL",
        default=default_store,
        help="model store (a directory or s3://bucket/prefix) to serve and hot-reload the model from; "
        "empty: the model files named by the other flags, no reload",
    )
    parser.env_flag(
        "--s3-endpoint",
        "MODELSTORE_S3_ENDPOINT",
        default="",
        help="S3 endpoint URL for MinIO or another S3-compatible server",
    )
    parser.env_flag("--model-name", "MODEL_NAME", default=model_name, help="model name in the store")
    parser.env_flag(
        "--model-channel",
        "MODEL_CHANNEL",
        default=DEFAULT_CHANNEL,
        help="channel whose version is served (production, canary, ...)",
    )
    parser.env_flag(
        "--model-version",
        "MODEL_VERSION",
        default="",
        help="serve this version whatever the channel says (an operator's pin); empty: follow the channel",
    )
    parser.env_flag(
        "--model-poll-s",
        "MODEL_POLL_S",
        default=DEFAULT_POLL_S,
        type=float,
        help="how often the channel is looked at for a new version",
    )
    parser.env_flag(
        "--model-cache-dir",
        "MODELSTORE_CACHE_DIR",
        default=DEFAULT_CACHE,
        help="where versions are downloaded and verified before loading",
    )


def check_serving_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.model_poll_s <= 0:
        parser.error(f"--model-poll-s must be positive, got {args.model_poll_s}")


def slot_watcher(
    args: argparse.Namespace,
    slot: ModelSlot[M],
    load: Callable[[LocalVersion], M],
    *,
    engine: str,
) -> ChannelWatcher:
    """A watcher that offers every verified version of the channel (or the pinned one) to `slot`.

    Not started: the caller polls once to load the first version before it says SERVING, then
    starts it (and stops it on shut-down).
    """

    def offer(update: ChannelUpdate) -> None:
        slot.offer(update.version, lambda: load(update.local))

    return ChannelWatcher(
        open_store(args.model_store, s3_endpoint=args.s3_endpoint),
        args.model_name,
        args.model_channel,
        Path(args.model_cache_dir),
        expect_engine=engine,
        interval_s=args.model_poll_s,
        pinned_version=args.model_version or None,
        on_update=offer,
    )


def first_version(watcher: ChannelWatcher, slot: ModelSlot[object]) -> str:
    """Load the channel's version now (start-up); a clear error when there is none to serve."""
    watcher.poll_once()
    if slot.version is None:
        refused = "; ".join(f"{v}: {why}" for (v, _sha), why in watcher.refused.items())
        where = (
            f"version {watcher.pinned_version}" if watcher.pinned_version else f"channel {watcher.channel}"
        )
        raise RuntimeError(
            f"no servable {watcher.name} model in {where} of {watcher.store.url}"
            + (f" (refused: {refused})" if refused else "")
        )
    return slot.version
