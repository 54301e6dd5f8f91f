"""Our Darknet cfg parser, weights loader and nn.Module, layer by layer.

A small network that uses every layer type (shortcut, stride-1 maxpool, multi-layer route
with an absolute index, upsample, conv without batch norm, two [yolo] heads on a non-square
input) is given random weights, written in Darknet's format and loaded by both our module
and OpenCV's importer: OpenCV is the independent reading of the format and the layers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yolodetection.backends.torch_backend import TorchBackend, TorchOptions, resolve_device
from yolodetection.cfg import builtin_cfg
from yolodetection.darknet.cfg import CfgError, parse_cfg, read_cfg
from yolodetection.darknet.model import DarknetModel, MaxPool
from yolodetection.darknet.weights import (
    WeightsMismatchError,
    expected_floats,
    init_random_weights,
    load_darknet_weights,
    save_darknet_weights,
)

ANCHORS = "anchors = 4,5, 8,10, 12,9, 20,16, 30,24, 40,44"
SMALL_CFG = f"""
[net]
width=64
height=48
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[shortcut]
from=-3
activation=linear

[maxpool]
size=2
stride=1

[convolutional]
filters=16
size=3
stride=2
pad=1
activation=leaky

[convolutional]
filters=21
size=1
stride=1
pad=1
activation=linear

[yolo]
mask = 3,4,5
{ANCHORS}
classes=2
num=6

[route]
layers = -3

[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
pad=1
activation=leaky

[upsample]
stride=2

[route]
layers = -1, 5

[convolutional]
filters=21
size=1
stride=1
pad=1
activation=linear

[yolo]
mask = 0,1,2
{ANCHORS}
classes=2
num=6
"""


def randomise(model: DarknetModel, seed: int = 1) -> None:
    """Distinct, non-trivial values everywhere, batch-norm statistics included."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.conv_blocks():
            block.conv.weight.copy_(torch.randn(block.conv.weight.shape, generator=generator) * 0.1)
            if block.conv.bias is not None:
                block.conv.bias.copy_(torch.randn(block.conv.bias.shape, generator=generator) * 0.5)
            if block.batch_normalize:
                n = block.out_channels
                block.bn.weight.copy_(0.5 + torch.rand(n, generator=generator))
                block.bn.bias.copy_(torch.randn(n, generator=generator) * 0.2)
                block.bn.running_mean.copy_(torch.randn(n, generator=generator) * 0.2)
                block.bn.running_var.copy_(0.5 + torch.rand(n, generator=generator))


@pytest.fixture
def small_files(tmp_path: Path) -> tuple[Path, Path]:
    cfg_path = tmp_path / "small.cfg"
    cfg_path.write_text(SMALL_CFG, encoding="utf-8")
    model = DarknetModel(parse_cfg(SMALL_CFG))
    randomise(model)
    weights_path = tmp_path / "small.weights"
    save_darknet_weights(model, weights_path, seen=12345)
    return cfg_path, weights_path


def assert_rows_close(got: np.ndarray, want: np.ndarray, *, atol: float, rtol: float = 0.0) -> None:
    """Equal to tolerance; a class score right at OpenCV's 0.2 floor may be zeroed on one side."""
    got, want = got.copy(), want.copy()
    scores_got, scores_want = got[..., 5:], want[..., 5:]
    edge = (np.minimum(scores_got, scores_want) == 0) & (
        np.abs(np.maximum(scores_got, scores_want) - 0.2) < 1e-3
    )
    scores_got[edge] = scores_want[edge] = 0.0
    np.testing.assert_allclose(got, want, atol=atol, rtol=rtol)


def opencv_rows(cfg_path: Path, weights_path: Path, blob: np.ndarray) -> list[np.ndarray]:
    net = cv2.dnn.readNetFromDarknet(str(cfg_path), str(weights_path))
    net.setInput(blob)
    outs = net.forward(net.getUnconnectedOutLayersNames())
    return [np.asarray(out).reshape(blob.shape[0], -1, out.shape[-1]) for out in outs]


def torch_rows(cfg_path: Path, weights_path: Path, blob: np.ndarray) -> list[np.ndarray]:
    return TorchBackend(cfg_path, weights_path, TorchOptions(device="cpu")).forward(blob)


def test_every_layer_type_matches_opencv(small_files: tuple[Path, Path]) -> None:
    blob = np.random.default_rng(0).random((2, 3, 48, 64), np.float32)
    expected = opencv_rows(*small_files, blob)
    actual = torch_rows(*small_files, blob)
    # 16x12 and 32x24 grids, three anchors each.
    assert [rows.shape for rows in actual] == [(2, 16 * 12 * 3, 7), (2, 32 * 24 * 3, 7)]
    for want, got in zip(expected, actual, strict=True):
        assert_rows_close(got, want, atol=1e-4, rtol=1e-4)
    assert max(float(rows[..., 5:].max()) for rows in actual) > 0.2, "some class scores should survive"


def test_old_weights_header_with_32_bit_seen_count(small_files: tuple[Path, Path], tmp_path: Path) -> None:
    cfg_path, weights_path = small_files
    body = weights_path.read_bytes()[20:]
    old = tmp_path / "old.weights"
    old.write_bytes(np.array([0, 1, 0, 999], "<i4").tobytes() + body)  # version 0.1: int32 `seen`
    blob = np.random.default_rng(1).random((1, 3, 48, 64), np.float32)
    for want, got in zip(opencv_rows(cfg_path, old, blob), torch_rows(cfg_path, old, blob), strict=True):
        assert_rows_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    ("cut", "error"),
    [
        (4, "does not match|do not match"),  # truncated download
        (-8, "do not match"),  # two floats too many: another model's file
    ],
)
def test_weights_that_do_not_fit_the_cfg_are_refused(
    small_files: tuple[Path, Path], tmp_path: Path, cut: int, error: str
) -> None:
    cfg_path, weights_path = small_files
    data = weights_path.read_bytes()
    bad = tmp_path / "bad.weights"
    bad.write_bytes(data[:-cut] if cut > 0 else data + b"\0" * -cut)
    with pytest.raises(WeightsMismatchError, match=error):
        load_darknet_weights(DarknetModel(read_cfg(cfg_path)), bad)


def test_fused_batch_norm_gives_the_same_rows(small_files: tuple[Path, Path]) -> None:
    model = DarknetModel(read_cfg(small_files[0]))
    load_darknet_weights(model, small_files[1])
    model.eval()
    x = torch.rand(1, 3, 48, 64)
    with torch.inference_mode():
        before = model(x)
        after = model.fuse_batchnorm()(x)
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_stride_one_maxpool_keeps_the_size_and_pads_right_and_bottom() -> None:
    pool = MaxPool(parse_cfg("[net]\n[maxpool]\nsize=2\nstride=1\n").layers[0])
    x = -torch.arange(9, dtype=torch.float32).reshape(1, 1, 3, 3)  # largest value top-left
    out = pool(x)
    assert out.shape == x.shape
    # Each cell takes the max of itself and its right/bottom neighbours; the last row and
    # column only see themselves (the -inf padding never wins).
    assert out[0, 0].tolist() == [[0, -1, -2], [-3, -4, -5], [-6, -7, -8]]


def test_yolov3_cfg_builds_with_the_published_layout() -> None:
    cfg = read_cfg(builtin_cfg("yolov3"))
    model = DarknetModel(cfg)
    assert len(cfg.layers) == 107
    assert model.yolo_indices == (82, 94, 106)
    assert [head.anchors_wh.tolist() for head in model.yolo_heads()] == [
        [[116, 90], [156, 198], [373, 326]],
        [[30, 61], [62, 45], [59, 119]],
        [[10, 13], [16, 30], [33, 23]],
    ]
    # The published yolov3.weights is 248,007,048 bytes: a 20-byte header and the floats
    # this cfg asks for, so the shipped cfg would load the real file.
    assert 20 + 4 * expected_floats(model) == 248_007_048


def test_yolov3_forward_with_random_weights_has_the_right_shapes() -> None:
    backend = TorchBackend(builtin_cfg("yolov3"), None, TorchOptions(device="cpu"))
    assert backend.random_weights
    rows = backend.forward(np.random.default_rng(2).random((1, 3, 416, 416), np.float32))
    assert [r.shape for r in rows] == [(1, 13 * 13 * 3, 85), (1, 26 * 26 * 3, 85), (1, 52 * 52 * 3, 85)]
    assert all(np.isfinite(r).all() for r in rows)
    # Calibrated random weights: boxes near their anchors, objectness low like a trained net.
    assert max(float(r[..., 4].max()) for r in rows) < 0.5


@pytest.mark.slow
def test_yolov3_random_weights_match_opencv(tmp_path: Path) -> None:
    """Darknet-53's 23 shortcuts and the three heads read the same way by both (about 10 s)."""
    cfg_path = builtin_cfg("yolov3")
    model = DarknetModel(read_cfg(cfg_path))
    init_random_weights(model, objectness_bias=0.0)  # objectness near 0.5: class scores survive
    weights_path = tmp_path / "yolov3-random.weights"
    save_darknet_weights(model, weights_path)
    blob = np.random.default_rng(3).random((1, 3, 416, 416), np.float32)
    for want, got in zip(
        opencv_rows(cfg_path, weights_path, blob), torch_rows(cfg_path, weights_path, blob), strict=True
    ):
        assert_rows_close(got, want, atol=2e-3)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[convolutional]\nfilters=8\n", "must start with a \\[net\\] section"),
        ("size=3\n", "before any \\[section\\]"),
        ("[net]\n[convolutional\n", "unterminated section header"),
        ("[net]\n[convolutional]\nfilters\n", "expected key=value"),
        ("[net]\n[local]\n", "layer type not supported"),  # an old Darknet layer we do not build
    ],
)
def test_malformed_cfg_text_is_refused(text: str, error: str) -> None:
    with pytest.raises(CfgError, match=error):
        parse_cfg(text)


YOLO_2 = f"[yolo]\nmask=0,1,2\n{ANCHORS}\nclasses=2\n"


@pytest.mark.parametrize(
    ("layers", "error"),
    [
        ("[convolutional]\nfilters=eight\n", "filters='eight' is not an integer"),
        ("[convolutional]\nsize=3\n", "missing required option 'filters'"),
        ("[convolutional]\nfilters=8\nactivation=gelu\n", "activation 'gelu' not supported"),
        ("[convolutional]\nfilters=8\n[route]\nlayers=3\n", "not an earlier layer"),  # forward reference
        ("[convolutional]\nfilters=8\n[shortcut]\nfrom=-5\n", "not an earlier layer"),
        ("[convolutional]\nfilters=20\n" + YOLO_2, "expects 3 x \\(5 \\+ 2\\) input channels"),
        ("[convolutional]\nfilters=21\n" + YOLO_2.replace("0,1,2", "4,5,6"), "mask .* past 6 anchors"),
        ("[convolutional]\nfilters=8\n", "no \\[yolo\\] layer"),
    ],
)
def test_cfg_that_cannot_build_a_network_names_the_problem(layers: str, error: str) -> None:
    with pytest.raises(CfgError, match=error):
        DarknetModel(parse_cfg("[net]\nwidth=32\nheight=32\n" + layers))


def test_torch_device_falls_back_to_cpu_without_a_gpu() -> None:
    backend = TorchBackend(builtin_cfg("yolov3"), None, TorchOptions(device="auto"))
    if torch.cuda.is_available():
        assert backend.device.startswith("cuda") and backend.dtype == torch.float16
    else:
        assert backend.device == "cpu" and backend.dtype == torch.float32
        assert not backend.uses_cuda_graphs


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised on a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="torch sees no CUDA GPU"):
        resolve_device("cuda")


def test_importing_the_yolo_service_does_not_import_torch() -> None:
    code = (
        "import sys, yolodetection, yolodetection.engine, yolodetection.batching, "
        "yolodetection.backends.factory, yolodetection.darknet.cfg, yolodetection.gpu_frames, "
        "yolodetection.service, yolodetection.__main__; "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr
