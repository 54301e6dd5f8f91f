"""Darknet `.weights` files: a small header, then every conv layer's floats in file order.

Header: major, minor, revision (int32), then `seen` (images trained on): int64 when
major*10 + minor >= 2, int32 before that. Per [convolutional], with batch_normalize:
bn bias (beta), bn weight (gamma), running mean, running var, then the conv weights;
without: conv bias, then conv weights. All float32 little-endian. The file must be
consumed exactly: a size mismatch means the cfg and weights do not belong together.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import torch

from yolodetection.darknet.model import DarknetModel

log = logging.getLogger(__name__)


class WeightsMismatchError(ValueError):
    """The weights file does not fit the cfg (wrong model, truncated download)."""


@dataclass(frozen=True)
class WeightsHeader:
    major: int
    minor: int
    revision: int
    seen: int
    size_bytes: int


def read_header(data: bytes) -> WeightsHeader:
    if len(data) < 12:
        raise WeightsMismatchError(f"weights file is {len(data)} bytes, too short for a Darknet header")
    major, minor, revision = np.frombuffer(data, "<i4", count=3).tolist()
    wide_seen = major * 10 + minor >= 2
    seen_dtype, size = ("<i8", 20) if wide_seen else ("<i4", 16)
    if len(data) < size:
        raise WeightsMismatchError("weights file ends inside its header")
    seen = int(np.frombuffer(data, seen_dtype, count=1, offset=12)[0])
    return WeightsHeader(major, minor, revision, seen, size)


def expected_floats(model: DarknetModel) -> int:
    total = 0
    for block in model.conv_blocks():
        total += block.conv.weight.numel() + block.out_channels * (4 if block.batch_normalize else 1)
    return total


@torch.no_grad()
def load_darknet_weights(model: DarknetModel, path: str | os.PathLike[str]) -> WeightsHeader:
    """Fill `model` (unfused, as built) from a `.weights` file; raises on any size mismatch."""
    with open(path, "rb") as handle:
        data = handle.read()
    header = read_header(data)
    floats = np.frombuffer(data, "<f4", offset=header.size_bytes, count=(len(data) - header.size_bytes) // 4)
    need = expected_floats(model)
    if len(floats) != need or (len(data) - header.size_bytes) % 4:
        raise WeightsMismatchError(
            f"{path}: the cfg needs {need} floats after the header, the file has "
            f"{(len(data) - header.size_bytes) / 4:g}; cfg and weights do not match"
        )
    cursor = 0

    def take(tensor: torch.Tensor) -> None:
        nonlocal cursor
        count = tensor.numel()
        tensor.copy_(torch.from_numpy(floats[cursor : cursor + count].copy()).view_as(tensor))
        cursor += count

    for block in model.conv_blocks():
        if block.batch_normalize:
            bn = block.bn
            for tensor in (bn.bias, bn.weight, bn.running_mean, bn.running_var):
                take(tensor)
        else:
            take(block.conv.bias)
        take(block.conv.weight)
    log.info(
        "loaded %d conv layers from %s (darknet %d.%d.%d)",
        len(model.conv_blocks()),
        path,
        header.major,
        header.minor,
        header.revision,
    )
    return header


@torch.no_grad()
def init_random_weights(model: DarknetModel, *, seed: int = 0, objectness_bias: float = -6.0) -> None:
    """Give an unfused model random weights that behave like trained ones, for timing runs.

    Plain random init lets activations grow through darknet-53's 23 residual additions
    (FP16 then overflows), and puts objectness near 0.5 everywhere, so NMS would see
    thousands of boxes. So: one calibration pass scales each conv to unit output variance
    as it runs, and each [yolo] head's objectness bias starts low, like a trained detector
    that sees a few objects per frame.
    """
    generator = torch.Generator().manual_seed(seed)
    blocks = model.conv_blocks()
    for block in blocks:
        weight = block.conv.weight
        fan_in = weight[0].numel()
        weight.copy_(torch.randn(weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
        if block.conv.bias is not None:
            block.conv.bias.zero_()

    def rescale(module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        std = float(output.std()) or 1.0
        module.weight.div_(std)
        if module.bias is not None:
            module.bias.div_(std)
        return output / std

    hooks = [block.conv.register_forward_hook(rescale) for block in blocks]
    try:
        width, height = model.input_wh
        model.eval()
        model(torch.rand(1, model.cfg.channels, height, width, generator=generator, device=None))
    finally:
        for hook in hooks:
            hook.remove()
    # The conv right before each [yolo] head produces its raw map; lower objectness there.
    for index in model.yolo_indices:
        before = model.layers[index - 1]
        head = model.layers[index]
        if before.conv.bias is None:
            continue
        k = 5 + head.classes
        for anchor in range(head.num_anchors):
            before.conv.bias[anchor * k + 4] = objectness_bias


@torch.no_grad()
def save_darknet_weights(model: DarknetModel, path: str | os.PathLike[str], *, seen: int = 0) -> None:
    """Write an unfused model in Darknet's format (version 0.2.0, 64-bit `seen`).

    Lets a randomly initialised network be loaded by OpenCV too, so both backends can be
    compared on architectures whose trained weights are not available here.
    """
    parts: list[np.ndarray] = []
    for block in model.conv_blocks():
        if block.batch_normalize:
            bn = block.bn
            if not isinstance(bn, torch.nn.BatchNorm2d):
                raise ValueError("save_darknet_weights needs the model before fuse_batchnorm()")
            parts += [bn.bias, bn.weight, bn.running_mean, bn.running_var]  # type: ignore[list-item]
        else:
            parts.append(block.conv.bias)
        parts.append(block.conv.weight)
    with open(path, "wb") as handle:
        handle.write(np.array([0, 2, 0], "<i4").tobytes())
        handle.write(np.array([seen], "<i8").tobytes())
        for tensor in parts:
            handle.write(tensor.detach().float().cpu().numpy().astype("<f4").tobytes())
