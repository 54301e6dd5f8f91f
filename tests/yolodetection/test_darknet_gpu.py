"""The GPU frame path and the CUDA-only parts of the torch backend.

The CPU fallback (OpenCV decode, resize and normalise in torch, colours from the tensor)
runs everywhere and is held to the engine's answers. Tests that need a GPU are skipped,
with that reason, on machines without CUDA.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from liquidedge.detections import Detections
from liquidedge.errors import BadImageError, FrameTooLargeError
from liquidedge.imaging import ImageLimits, center_colors
from meshtools.samples import SampleFrame
from yolodetection.backends.torch_backend import TorchBackend, TorchOptions
from yolodetection.cfg import builtin_cfg
from yolodetection.engine import YoloEngine, YoloSettings, make_blob
from yolodetection.gpu_frames import FramePreprocessor, GpuYoloPipeline, device_center_colors
from yolodetection.model_files import ModelFiles

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees none)")
SETTINGS = YoloSettings(score_threshold=0.2)


def agree(expected: Detections, actual: Detections, score_tol: float) -> bool:
    if list(expected.label) != list(actual.label):
        return False
    for a, b in zip(expected.xyxy, actual.xyxy, strict=True):
        inter = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None).prod()
        union = (a[2:] - a[:2]).prod() + (b[2:] - b[:2]).prod() - inter
        if inter / union < 0.9:
            return False
    return bool(np.all(np.abs(expected.confidence - actual.confidence) <= score_tol))


@pytest.fixture(scope="module")
def files(model_dir: str) -> ModelFiles:
    return ModelFiles.in_dir(model_dir)


@pytest.fixture(scope="module")
def cpu_backend(files: ModelFiles) -> TorchBackend:
    return TorchBackend.from_files(files, TorchOptions(device="cpu"))


def test_cpu_fallback_blob_matches_the_engine_blob(frames: dict[str, SampleFrame]) -> None:
    pre = FramePreprocessor((416, 416), torch.device("cpu"))
    assert not pre.uses_nvjpeg
    jpegs = [frame.jpeg for frame in frames.values()]
    blob = pre.to_blob(pre.decode(jpegs))
    expected = make_blob([frame.image_bgr for frame in frames.values()], (416, 416))
    assert blob.shape == expected.shape and blob.dtype == torch.float32
    # OpenCV resizes 8-bit pixels in fixed point: at most one grey level apart.
    assert float(np.abs(blob.numpy() - expected).max()) <= 1.0 / 255.0 + 1e-6


def test_cpu_fallback_pipeline_gives_the_engine_answers(
    cpu_backend: TorchBackend, files: ModelFiles, frames: dict[str, SampleFrame]
) -> None:
    pipeline = GpuYoloPipeline(cpu_backend, files.class_names(), SETTINGS)
    engine = YoloEngine(cpu_backend, files.class_names(), files.input_size(), SETTINGS)
    answers = pipeline.detect_batch([frame.jpeg for frame in frames.values()])
    compared = 0
    for frame, found in zip(frames.values(), answers, strict=True):
        expected = engine.detect(frame.image_bgr)
        compared += len(expected)
        assert agree(expected, found, score_tol=0.02), frame.name
        # Same decoder on the CPU fallback, so the colours of these boxes are exactly the host's.
        np.testing.assert_array_equal(found.color_rgb, center_colors(frame.image_bgr, found.xyxy))
    assert compared > 0


@pytest.mark.parametrize(
    "xyxy",
    [
        [[10, 20, 110, 220]],  # an ordinary box
        [[0, 0, 3, 3], [636, 476, 640, 480]],  # corners: the patch is clipped, never empty
        [[300.4, 200.6, 300.9, 201.1]],  # smaller than a pixel
        np.zeros((0, 4)),  # nothing found
    ],
)
def test_device_colours_match_the_host_colours(xyxy: list[list[float]]) -> None:
    rng = np.random.default_rng(4)
    image_bgr = rng.integers(0, 256, (480, 640, 3), np.uint8)
    image_rgb = torch.from_numpy(np.ascontiguousarray(image_bgr[..., ::-1])).permute(2, 0, 1)
    boxes = np.asarray(xyxy, np.float32)
    np.testing.assert_array_equal(device_center_colors(image_rgb, boxes), center_colors(image_bgr, boxes))


@pytest.mark.parametrize(
    ("jpeg", "limits", "error"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, ImageLimits(), BadImageError),  # not a JPEG at all
        ("astronaut", ImageLimits(max_pixels=100 * 100), FrameTooLargeError),  # refused before decoding
        ("astronaut-truncated", ImageLimits(), BadImageError),
    ],
)
def test_bad_frames_are_refused_before_the_decoder(
    cpu_backend: TorchBackend,
    files: ModelFiles,
    frames: dict[str, SampleFrame],
    jpeg: bytes | str,
    limits: ImageLimits,
    error: type[Exception],
) -> None:
    if jpeg == "astronaut":
        jpeg = frames["astronaut"].jpeg
    elif jpeg == "astronaut-truncated":
        jpeg = frames["astronaut"].jpeg[:2000]
    pipeline = GpuYoloPipeline(cpu_backend, files.class_names(), SETTINGS, limits=limits)
    with pytest.raises(error):
        pipeline.detect(jpeg)  # type: ignore[arg-type]


def test_nvjpeg_is_refused_off_the_gpu() -> None:
    with pytest.raises(ValueError, match="needs a CUDA device"):
        FramePreprocessor((416, 416), torch.device("cpu"), use_nvjpeg=True)


# CUDA only -------------------------------------------------------------------------------


@needs_cuda
def test_nvjpeg_decode_matches_opencv(frames: dict[str, SampleFrame]) -> None:
    pre = FramePreprocessor((416, 416), torch.device("cuda"))
    if not pre.uses_nvjpeg:
        pytest.skip("torchvision is not installed beside this CUDA torch")
    images = pre.decode([frame.jpeg for frame in frames.values()])
    for frame, image in zip(frames.values(), images, strict=True):
        assert image.device.type == "cuda" and image.dtype == torch.uint8
        rgb = cv2.cvtColor(frame.image_bgr, cv2.COLOR_BGR2RGB)
        diff = np.abs(image.permute(1, 2, 0).cpu().numpy().astype(int) - rgb.astype(int))
        assert diff.mean() < 2.0  # IDCT implementations differ by a grey level here and there
    blob = pre.to_blob(images)
    assert blob.device.type == "cuda"


@needs_cuda
def test_gpu_pipeline_agrees_with_the_cpu_engine(
    cpu_backend: TorchBackend, files: ModelFiles, frames: dict[str, SampleFrame]
) -> None:
    gpu = TorchBackend.from_files(files, TorchOptions(device="cuda"))
    assert gpu.dtype == torch.float16 and gpu.uses_cuda_graphs
    pipeline = GpuYoloPipeline(gpu, files.class_names(), SETTINGS)
    engine = YoloEngine(cpu_backend, files.class_names(), files.input_size(), SETTINGS)
    for frame, found in zip(
        frames.values(), pipeline.detect_batch([f.jpeg for f in frames.values()]), strict=True
    ):
        assert agree(engine.detect(frame.image_bgr), found, score_tol=0.05), frame.name


@needs_cuda
def test_fp16_rows_stay_close_to_float32(cpu_backend: TorchBackend, files: ModelFiles) -> None:
    gpu = TorchBackend.from_files(files, TorchOptions(device="cuda", cuda_graphs=False))
    blob = np.random.default_rng(5).random((2, 3, 416, 416), np.float32)
    for want, got in zip(cpu_backend.forward(blob), gpu.forward(blob), strict=True):
        assert np.abs(want[..., :2] - got[..., :2]).max() < 5e-3  # centres, relative to the input
        assert np.abs(want[..., 4] - got[..., 4]).max() < 2e-2  # objectness


@needs_cuda
@pytest.mark.parametrize("batch", [1, 3, 8, 40])  # exact bucket, padded bucket, largest, split over two
def test_cuda_graph_replay_matches_eager(batch: int) -> None:
    options = TorchOptions(device="cuda", graph_batch_sizes=(1, 4, 8, 32))
    graphs = TorchBackend(builtin_cfg("yolov3"), None, options)
    eager = TorchBackend(builtin_cfg("yolov3"), None, TorchOptions(device="cuda", cuda_graphs=False))
    x = torch.rand(batch, 3, 416, 416, device="cuda")
    for want, got in zip(eager.forward_tensor(x), graphs.forward_tensor(x), strict=True):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, atol=2e-2, rtol=2e-2)


@needs_cuda
def test_warmup_captures_every_served_batch_size() -> None:
    backend = TorchBackend(
        builtin_cfg("yolov3"), None, TorchOptions(device="cuda", graph_batch_sizes=(1, 2, 4))
    )
    backend.warmup((1, 2, 4))
    assert backend._graphs is not None and set(backend._graphs._captured) == {1, 2, 4}
