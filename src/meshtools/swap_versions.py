"""YOLO versions for swap tests: the embedded model, a retrained one, and three broken ones.

What `make swap-bench` and the hot-reload tests publish into a model store:

* the embedded YOLOv3-tiny as it is (`make models`);
* a *retrained* version: the same network with every weight of its last layer moved by 0.01%,
  so its files (and their hashes, and its ONNX conversion) are new but its answers are those
  of the embedded model, as a fine-tuned model's would be;
* a version with a **bad checksum**: published whole, then one byte of its weights flipped in
  the store (bit rot, a tampered bucket): the fetch refuses it;
* a version with **truncated weights**: published that way (an upload cut short before it was
  published), so its checksums match and loading it fails;
* a version with the **wrong class count**: 79 class names for the 80-class network, which
  loads and then fails the smoke test.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelstore.backends import FILES_DIR
from modelstore.store import ModelStore

MODEL = "yolov3-tiny"
ENGINE = "yolo"
FORMAT = "darknet"
CFG, WEIGHTS, NAMES = f"{MODEL}.cfg", f"{MODEL}.weights", "coco.names"
# YOLOv3-tiny's last convolution: 255 filters of 1x1x256, plus their biases.
LAST_LAYER_FLOATS = 255 * 256 + 255
BROKEN_KINDS = ("bad-checksum", "truncated-weights", "wrong-class-count")


def retrained_weights(data: bytes, scale: float = 1.0001) -> bytes:
    """The weights with the last layer's floats scaled by `scale`: new bytes, the same answers."""
    body = bytearray(data)
    tail = len(body) - 4 * LAST_LAYER_FLOATS
    floats = np.frombuffer(bytes(body[tail:]), "<f4") * np.float32(scale)
    body[tail:] = floats.astype("<f4").tobytes()
    return bytes(body)


def _variant(
    model_dir: Path,
    dest: Path,
    weights: Callable[[bytes], bytes] = lambda data: data,
    names: Callable[[list[str]], list[str]] = lambda lines: lines,
) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_dir / CFG, dest / CFG)
    (dest / WEIGHTS).write_bytes(weights((model_dir / WEIGHTS).read_bytes()))
    lines = (model_dir / NAMES).read_text(encoding="utf-8").splitlines()
    (dest / NAMES).write_text("\n".join(names(lines)) + "\n", encoding="utf-8")
    return dest


def _publish(store: ModelStore, folder: Path, note: str) -> str:
    return store.publish_dir(MODEL, folder, engine=ENGINE, format=FORMAT, meta={"note": note}).version


def flip_stored_byte(store_root: Path, version: str, path: str = WEIGHTS, offset: int = 4096) -> None:
    """Flip one byte of a published file in a local-directory store (what bit rot would do)."""
    stored = store_root / "models" / MODEL / "versions" / version / FILES_DIR / path
    with open(stored, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


@dataclass(frozen=True)
class SwapVersions:
    """The published versions, by role; `broken` maps each broken kind to its version."""

    embedded: str
    retrained: str
    broken: dict[str, str]


def publish_swap_versions(
    store: ModelStore, store_root: Path, model_dir: Path, scratch: Path
) -> SwapVersions:
    """Publish the embedded model (promoted to `production`), the retrained one and the broken
    ones (not promoted) into a local-directory store at `store_root`."""
    model_dir = Path(model_dir)
    embedded = _publish(store, _variant(model_dir, scratch / "embedded"), "embedded YOLOv3-tiny")
    store.promote(MODEL, embedded, note="swap test: the model serving before")
    retrained = _publish(
        store,
        _variant(model_dir, scratch / "retrained", weights=retrained_weights),
        "last layer moved by 0.01%",
    )
    checksum = _publish(
        store,
        _variant(model_dir, scratch / "bad-checksum", weights=lambda d: retrained_weights(d, 1.0002)),
        "a byte flipped in the store after publishing",
    )
    flip_stored_byte(store_root, checksum)
    truncated = _publish(
        store,
        _variant(model_dir, scratch / "truncated", weights=lambda data: data[: len(data) // 2]),
        "weights cut at half their size",
    )
    wrong_classes = _publish(
        store,
        _variant(model_dir, scratch / "wrong-classes", names=lambda lines: lines[:-1]),
        "79 class names for 80 classes",
    )
    broken = dict(zip(BROKEN_KINDS, (checksum, truncated, wrong_classes), strict=True))
    return SwapVersions(embedded, retrained, broken)
