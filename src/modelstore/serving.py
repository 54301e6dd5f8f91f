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
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from liquidedge.config import EnvDefaultsParser
from liquidedge.detections import Detections
from liquidedge.engine import Engine, FrameContext, RefiningEngine
from liquidedge.modelslot import ModelRefusedError, ModelSlot, SlotEngine
from modelstore import open_store
from modelstore.fetch import DEFAULT_CACHE, LocalVersion, prune_cache
from modelstore.watch import ChannelUpdate, ChannelWatcher

log = logging.getLogger(__name__)

M = TypeVar("M")

DEFAULT_CHANNEL = "production"
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
    on_serving: Callable[[M], None] | None = None,
    prune: bool = False,
) -> ChannelWatcher:
    """A watcher that offers every verified version of the channel (or the pinned one) to `slot`.

    A version that fails its checksums never reaches `load`; the slot still logs and counts it
    as refused, like one that would not load. Once a version serves, `on_serving` sees its model
    and, with `prune`, the versions this watcher served before leave the cache (`prune_cache`).
    Not started: the caller polls once to load the first version before it says SERVING, then
    starts it (and stops it on shut-down).
    """

    served: list[str] = []  # versions this watcher swapped in, the serving one last

    def offer(update: ChannelUpdate) -> None:
        if not slot.offer(update.version, lambda: load(update.local)):
            return
        if prune:
            prune_cache(
                Path(args.model_cache_dir), args.model_name, [v for v in served if v != update.version]
            )
            served[:] = [update.version]
        if on_serving is not None:
            with slot.lease() as lease:
                on_serving(lease.model)

    def refused(version: str, error: Exception) -> None:
        if not isinstance(error, ModelRefusedError):  # the slot counted its own refusals already
            slot.refuse(version, str(error))

    return ChannelWatcher(
        open_store(args.model_store, s3_endpoint=args.s3_endpoint),
        args.model_name,
        args.model_channel,
        Path(args.model_cache_dir),
        expect_engine=engine,
        interval_s=args.model_poll_s,
        pinned_version=args.model_version or None,
        on_update=offer,
        on_refused=refused,
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


class WatchedEngine:
    """The engine a service hosts when its model comes from a store channel.

    Frames go to `engine` (a `SlotEngine`, or a dynamic batcher in front of one, so a batch
    leases one version); the watcher feeds the slot from its own thread. Closing stops the
    watcher first (nothing new loads while the service stops), then the engine, then the slot,
    whose serving version is freed when its last frame is done.
    """

    def __init__(
        self, engine: Engine | RefiningEngine, slot: ModelSlot[Any], watcher: ChannelWatcher
    ) -> None:
        self.engine = engine
        self.slot = slot
        self.watcher = watcher
        self.name = engine.name

    def detect(self, image_bgr: np.ndarray, deadline: float | None = None) -> Detections:
        return self.engine.detect(image_bgr, deadline=deadline)  # type: ignore[union-attr]

    def close(self) -> None:
        self.watcher.stop()
        close_engine = getattr(self.engine, "close", None)
        if close_engine is not None:
            close_engine()
        self.slot.close()


class WatchedRefiner(WatchedEngine):
    """A `WatchedEngine` whose engine refines another's boxes (`liquidedge.engine.RefiningEngine`)."""

    def refine(
        self, image_bgr: np.ndarray, context: FrameContext, deadline: float | None = None
    ) -> Detections:
        return self.engine.refine(image_bgr, context, deadline)  # type: ignore[attr-defined]


def serve_from_store(
    args: argparse.Namespace,
    slot: ModelSlot[M],
    load: Callable[[LocalVersion], M],
    *,
    engine: str,
    wrap: Callable[[SlotEngine], Engine | RefiningEngine] | None = None,
    on_serving: Callable[[M], None] | None = None,
) -> WatchedEngine:
    """Load the channel's version into `slot` now, then keep following the channel.

    `engine` is what the store's manifests must name; `wrap` puts something in front of the
    slot's engine (the YOLO dynamic batcher) or replaces it (a refining engine over the slot).
    The cache keeps no version it served before the serving one. Raises (with nothing left running) when the
    channel has no version that loads.
    """
    watcher = slot_watcher(args, slot, load, engine=engine, on_serving=on_serving, prune=True)
    try:
        version = first_version(watcher, slot)
        slot_engine = SlotEngine(slot.engine, slot)
        served = wrap(slot_engine) if wrap is not None else slot_engine
    except BaseException:
        slot.close()
        raise
    watcher.start()
    log.info(
        "%s model %s from %s, following %s",
        slot.engine,
        version,
        watcher.store.url,
        f"pinned version {watcher.pinned_version}"
        if watcher.pinned_version
        else f"channel {watcher.channel}",
        extra={"engine": slot.engine, "version": version, "channel": watcher.channel},
    )
    hosted = WatchedRefiner if isinstance(served, RefiningEngine) else WatchedEngine
    return hosted(served, slot, watcher)
