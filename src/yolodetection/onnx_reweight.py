"""New weights for a network converted before: the cached graph with its weights replaced.

A retrained or fine-tuned YOLO keeps its cfg and changes only its weights. Converting it again
through torch costs seconds of CPU (importing torch, tracing the network); but the exported
graph depends only on the cfg (and the exporter's revision and score floor), and its weights
are initializers named after the cfg's layers (`layers.<i>.conv.weight`, `.bias`). So a
converted version of the same cfg is a *template*: the new Darknet weights are read with
numpy, batch norm is folded into each convolution exactly as `DarknetModel.fuse_batchnorm`
folds it (float32, the same operations), and written in place of the template's initializers.
Well under a second, no torch: a YOLO service converts a new version of its model while it
serves, and the CPU image (which has no torch) converts one at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liquidedge.package_files import sha256_of
from yolodetection.darknet.cfg import read_cfg
from yolodetection.model_files import ModelFiles
from yolodetection.model_version import MANIFEST, ModelVersion, VersionWriter, load_version

log = logging.getLogger(__name__)

BN_EPS = np.float32(1e-5)  # nn.BatchNorm2d(eps=1e-5) in darknet.model


class ReweightError(ValueError):
    """The weights do not fit the template's network (another cfg, a truncated file)."""


@dataclass(frozen=True)
class ConvSlot:
    """One convolution: its layer index, whether Darknet stores batch norm for it, its shape."""

    index: int
    batch_normalize: bool
    shape: tuple[int, ...]  # (out, in, k, k)


def darknet_body(path: Path) -> bytes:
    """The bytes of a `.weights` file after its 16- or 20-byte header."""
    data = path.read_bytes()
    if len(data) < 12:
        raise ReweightError(f"{path}: {len(data)} bytes, too short for a Darknet header")
    major, minor = (int(v) for v in np.frombuffer(data, "<i4", count=2))
    return data[20 if major * 10 + minor >= 2 else 16 :]


def fused_weights(body: bytes, slots: list[ConvSlot], where: str) -> dict[str, np.ndarray]:
    """Initializer name -> fused float32 array, reading the weights `body` in Darknet's order."""
    need = sum(int(np.prod(s.shape)) + s.shape[0] * (4 if s.batch_normalize else 1) for s in slots)
    if len(body) != 4 * need:
        raise ReweightError(
            f"{where}: the cfg needs {need} floats ({4 * need} bytes) after the header, the file has "
            f"{len(body)} bytes; cfg and weights do not match{' (truncated)' if len(body) < 4 * need else ''}"
        )
    floats = np.frombuffer(body, "<f4")
    cursor = 0

    def take(count: int) -> np.ndarray:
        nonlocal cursor
        part = floats[cursor : cursor + count].astype(np.float32)
        cursor += count
        return part

    arrays: dict[str, np.ndarray] = {}
    for slot in slots:
        out = slot.shape[0]
        if slot.batch_normalize:
            beta, gamma, mean, var = take(out), take(out), take(out), take(out)
            weight = take(int(np.prod(slot.shape))).reshape(slot.shape)
            scale = gamma / np.sqrt(var + BN_EPS)
            arrays[f"layers.{slot.index}.conv.weight"] = weight * scale.reshape(-1, 1, 1, 1)
            arrays[f"layers.{slot.index}.conv.bias"] = beta - mean * scale
        else:
            bias = take(out)
            arrays[f"layers.{slot.index}.conv.weight"] = take(int(np.prod(slot.shape))).reshape(slot.shape)
            arrays[f"layers.{slot.index}.conv.bias"] = bias
    return arrays


def find_template(
    files: ModelFiles, folders: Sequence[Path], export_revision: int, score_floor: float
) -> ModelVersion | None:
    """A checked FP32 conversion of the same cfg, exporter revision and floor in one of `folders`
    (converted caches: the service's own, the one baked into its image)."""
    cfg_sha256 = sha256_of(files.cfg)
    candidates = [
        path
        for folder in map(Path, folders)
        if folder.is_dir()
        for path in sorted(folder.glob(f"*/{MANIFEST}"))
    ]
    for manifest_path in candidates:
        try:
            manifest = json.loads(manifest_path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        revision = manifest.get("export_revision")
        if revision is None and str(manifest.get("made_by", "")).startswith(
            f"yolodetection.onnx_export rev{export_revision},"
        ):
            revision = export_revision
        if (
            manifest.get("precision") == "fp32"
            and revision == export_revision
            and manifest.get("score_floor") == score_floor
            and manifest.get("source", {}).get("cfg_sha256") == cfg_sha256
        ):
            try:
                return load_version(manifest_path.parent)
            except ValueError as error:  # a damaged one is no template
                log.warning("not a usable template: %s", error)
    return None


def reweight(
    template: ModelVersion,
    files: ModelFiles,
    cache_dir: Path,
    version: str,
    *,
    export_revision: int,
    source: dict[str, str],
) -> ModelVersion:
    """Write version `version` into `cache_dir`: the template's graph with `files`' weights."""
    import onnx
    from onnx import numpy_helper

    cfg = read_cfg(files.cfg)
    proto = onnx.load(str(template.model))
    initializers = {init.name: init for init in proto.graph.initializer}
    slots = []
    for section in cfg.layers:
        if section.kind != "convolutional":
            continue
        name = f"layers.{section.index}.conv.weight"
        if name not in initializers:
            raise ReweightError(
                f"template {template.version} has no {name}; it is not a conversion of this cfg"
            )
        shape = tuple(int(d) for d in initializers[name].dims)
        slots.append(ConvSlot(section.index, bool(section.get_int("batch_normalize", 0)), shape))
    arrays = fused_weights(darknet_body(files.weights), slots, str(files.weights))
    for name, array in arrays.items():
        initializers[name].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
    writer = VersionWriter(Path(cache_dir), version)
    try:
        onnx.save(proto, str(writer.file("model.onnx")))
        writer.file("names.txt").write_bytes(files.names.read_bytes())
        manifest = {
            key: template.manifest[key]
            for key in ("model", "names", "precision", "layout", "input_wh", "classes", "score_floor")
        }
        made = f"yolodetection.onnx_reweight: {template.version} with new weights"
        result = writer.commit(
            {**manifest, "export_revision": export_revision, "source": source, "made_by": made}
        )
    except BaseException:
        writer.abandon()
        raise
    log.info("reweighted %s from %s: %s", files.weights.name, template.version, result.path)
    return result
