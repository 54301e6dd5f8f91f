"""A Darknet network as a PyTorch `nn.Module`, built from a parsed cfg.

The forward pass returns, for every [yolo] layer, rows in the backend convention
(`yolodetection.backends`): (N, H*W*anchors, 5 + classes), [cx, cy, w, h] relative to the
input, objectness, and class scores already multiplied by objectness. Rows are ordered
cell by cell (row-major), anchors innermost, which is OpenCV's order, so the two backends
can be compared row for row.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from yolodetection.darknet.cfg import CfgError, DarknetCfg, Section


def _activation(section: Section) -> nn.Module:
    name = section.get_str("activation", "linear")
    if name == "leaky":
        return nn.LeakyReLU(0.1)
    if name == "linear":
        return nn.Identity()
    if name == "relu":
        return nn.ReLU()
    if name == "logistic":
        return nn.Sigmoid()
    if name == "mish":
        return nn.Mish()
    if name in {"swish", "silu"}:
        return nn.SiLU()
    raise CfgError(f"{section.where()}: activation {name!r} not supported")


class ConvBlock(nn.Module):
    """[convolutional]: conv, optional batch norm, activation.

    Batch norm stays a separate module until `fuse_batchnorm` folds it into the conv once
    the weights are loaded (one kernel instead of two at inference time).
    """

    def __init__(self, section: Section, in_channels: int) -> None:
        super().__init__()
        filters = section.get_int("filters")
        size = section.get_int("size", 1)
        stride = section.get_int("stride", 1)
        groups = section.get_int("groups", 1)
        # Darknet: pad=1 means "same" padding (size // 2); otherwise an explicit `padding`.
        padding = size // 2 if section.get_int("pad", 0) else section.get_int("padding", 0)
        self.batch_normalize = bool(section.get_int("batch_normalize", 0))
        self.conv = nn.Conv2d(
            in_channels, filters, size, stride, padding, groups=groups, bias=not self.batch_normalize
        )
        self.bn: nn.Module = nn.BatchNorm2d(filters, eps=1e-5) if self.batch_normalize else nn.Identity()
        self.act = _activation(section)
        self.out_channels = filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def fuse_batchnorm(self) -> None:
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        bn = self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(
            self.conv.in_channels,
            self.conv.out_channels,
            self.conv.kernel_size,
            self.conv.stride,
            self.conv.padding,
            groups=self.conv.groups,
            bias=True,
        ).to(self.conv.weight.device, self.conv.weight.dtype)
        fused.weight.copy_(self.conv.weight * scale.reshape(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv = fused
        self.bn = nn.Identity()


class MaxPool(nn.Module):
    """[maxpool] with Darknet's padding: `padding` defaults to size - 1, split left/right.

    size=2 stride=1 pads one cell on the right and bottom only, so a 13x13 map stays 13x13.
    Padding is -inf so it never wins the max.
    """

    def __init__(self, section: Section) -> None:
        super().__init__()
        self.size = section.get_int("size", 1)
        self.stride = section.get_int("stride", 1)
        padding = section.get_int("padding", self.size - 1)
        self.pad_before = padding // 2
        self.pad_after = padding - self.pad_before

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad_before or self.pad_after:
            pads = (self.pad_before, self.pad_after, self.pad_before, self.pad_after)
            x = F.pad(x, pads, mode="constant", value=float("-inf"))
        return F.max_pool2d(x, self.size, self.stride)


class Upsample(nn.Module):
    def __init__(self, section: Section) -> None:
        super().__init__()
        self.stride = section.get_int("stride", 2)
        self.scale = section.get_float("scale", 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=float(self.stride), mode="nearest")
        return x * self.scale if self.scale != 1.0 else x


class Route(nn.Module):
    """[route]: concatenate earlier outputs along channels (optionally one channel group)."""

    def __init__(self, sources: Sequence[int], groups: int, group_id: int) -> None:
        super().__init__()
        self.sources = tuple(sources)
        self.groups = groups
        self.group_id = group_id

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        x = inputs[0] if len(inputs) == 1 else torch.cat(inputs, dim=1)
        if self.groups > 1:
            x = x.chunk(self.groups, dim=1)[self.group_id]
        return x


class Shortcut(nn.Module):
    """[shortcut]: add an earlier layer's output (the residual connection of darknet-53)."""

    def __init__(self, section: Section, source: int) -> None:
        super().__init__()
        self.source = source
        self.act = _activation(section)

    def forward(self, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return self.act(x + other)


class YoloHead(nn.Module):
    """[yolo]: turn the raw map into rows; computed in float32 even when the net runs FP16.

    exp() of a raw FP16 value overflows easily, and the rows leave the device anyway.
    `score_floor` zeroes class scores at or below it, as OpenCV's Darknet importer does
    (its yolo layer keeps only scores above 0.2, like Darknet's own detector): with the
    same floor both backends give the same answers at any threshold a client asks for.
    """

    def __init__(self, section: Section, score_floor: float = 0.0) -> None:
        super().__init__()
        self.score_floor = score_floor
        anchors = section.get_floats("anchors")
        mask = section.get_ints("mask", list(range(len(anchors) // 2)))
        pairs = [(anchors[2 * i], anchors[2 * i + 1]) for i in range(len(anchors) // 2)]
        try:
            chosen = [pairs[m] for m in mask]
        except IndexError as error:
            raise CfgError(f"{section.where()}: mask {mask} indexes past {len(pairs)} anchors") from error
        self.classes = section.get_int("classes", 80)
        self.num_anchors = len(chosen)
        self.scale_x_y = section.get_float("scale_x_y", 1.0)
        self.register_buffer("anchors_wh", torch.tensor(chosen, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor, input_hw: tuple[int, int]) -> torch.Tensor:
        n, _, h, w = x.shape
        a, k = self.num_anchors, 5 + self.classes
        # (N, A*K, H, W) -> (N, H, W, A, K): cell-major, anchors innermost (OpenCV's row order).
        p = x.float().reshape(n, a, k, h, w).permute(0, 3, 4, 1, 2)
        grid_y = torch.arange(h, device=x.device, dtype=torch.float32).reshape(1, h, 1, 1)
        grid_x = torch.arange(w, device=x.device, dtype=torch.float32).reshape(1, 1, w, 1)
        xy = torch.sigmoid(p[..., 0:2])
        if self.scale_x_y != 1.0:
            xy = xy * self.scale_x_y - (self.scale_x_y - 1.0) / 2.0
        cx = (xy[..., 0] + grid_x) / w
        cy = (xy[..., 1] + grid_y) / h
        in_h, in_w = input_hw
        bw = torch.exp(p[..., 2]) * self.anchors_wh[:, 0] / in_w
        bh = torch.exp(p[..., 3]) * self.anchors_wh[:, 1] / in_h
        objectness = torch.sigmoid(p[..., 4])
        scores = torch.sigmoid(p[..., 5:]) * objectness.unsqueeze(-1)
        if self.score_floor > 0.0:
            scores = torch.where(scores > self.score_floor, scores, torch.zeros_like(scores))
        rows = torch.cat([torch.stack([cx, cy, bw, bh, objectness], dim=-1), scores], dim=-1)
        return rows.reshape(n, h * w * a, k)


def _relative(section: Section, value: int) -> int:
    """Darknet layer references: negative counts back from this layer, otherwise absolute."""
    target = section.index + value if value < 0 else value
    if not 0 <= target < section.index:
        raise CfgError(f"{section.where()}: refers to layer {value}, which is not an earlier layer")
    return target


class DarknetModel(nn.Module):
    """The whole network; `forward(x)` returns one row tensor per [yolo] layer."""

    def __init__(self, cfg: DarknetCfg, *, score_floor: float = 0.0) -> None:
        super().__init__()
        self.cfg = cfg
        self.input_wh = cfg.input_wh
        channels: list[int] = []
        layers: list[nn.Module] = []
        sources: list[tuple[int, ...]] = []
        in_channels = cfg.channels
        for section in cfg.layers:
            kind = section.kind
            srcs: tuple[int, ...] = ()
            if kind == "convolutional":
                layer: nn.Module = ConvBlock(section, in_channels)
                out = layer.out_channels
            elif kind == "maxpool":
                layer, out = MaxPool(section), in_channels
            elif kind == "upsample":
                layer, out = Upsample(section), in_channels
            elif kind == "yolo":
                layer, out = YoloHead(section, score_floor), in_channels
                if in_channels != layer.num_anchors * (5 + layer.classes):
                    raise CfgError(
                        f"{section.where()}: expects {layer.num_anchors} x (5 + {layer.classes}) input "
                        f"channels, the layer before gives {in_channels}"
                    )
            elif kind == "route":
                srcs = tuple(_relative(section, v) for v in section.get_ints("layers"))
                groups = section.get_int("groups", 1)
                layer = Route(srcs, groups, section.get_int("group_id", 0))
                out = sum(channels[s] for s in srcs) // groups
            elif kind == "shortcut":
                srcs = (_relative(section, section.get_int("from")),)
                if channels[srcs[0]] != in_channels:
                    raise CfgError(f"{section.where()}: adds {channels[srcs[0]]} channels to {in_channels}")
                layer = Shortcut(section, srcs[0])
                out = in_channels
            else:  # parse_cfg already refused anything else
                raise CfgError(f"{section.where()}: unsupported layer")
            layers.append(layer)
            sources.append(srcs)
            channels.append(out)
            in_channels = out
        self.layers = nn.ModuleList(layers)
        self.sources = tuple(sources)
        self.out_channels = tuple(channels)
        referenced = {s for srcs in sources for s in srcs}
        # Keep only outputs a later route/shortcut reads: the rest are freed as we go.
        self._keep = frozenset(referenced)
        self.yolo_indices = tuple(i for i, layer in enumerate(layers) if isinstance(layer, YoloHead))
        if not self.yolo_indices:
            raise CfgError("the cfg has no [yolo] layer, so the network would detect nothing")

    def conv_blocks(self) -> list[ConvBlock]:
        """Convolutional layers in file order: the order their weights appear in `.weights`."""
        return [layer for layer in self.layers if isinstance(layer, ConvBlock)]

    def yolo_heads(self) -> list[YoloHead]:
        return [self.layers[i] for i in self.yolo_indices]

    def fuse_batchnorm(self) -> DarknetModel:
        for block in self.conv_blocks():
            block.fuse_batchnorm()
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        input_hw = (x.shape[2], x.shape[3])
        saved: dict[int, torch.Tensor] = {}
        outputs: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Route):
                x = layer([saved[s] for s in layer.sources])
            elif isinstance(layer, Shortcut):
                x = layer(x, saved[layer.source])
            elif isinstance(layer, YoloHead):
                outputs.append(layer(x, input_hw))
            else:
                x = layer(x)
            if i in self._keep:
                saved[i] = x
        return outputs
