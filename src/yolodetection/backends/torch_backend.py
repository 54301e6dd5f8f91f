"""PyTorch backend: our Darknet `nn.Module`, FP16 + channels-last + CUDA graphs on a GPU.

OpenCV's PyPI wheels have no CUDA, so this is the GPU path. On a CPU it runs float32 and
gives the same rows as the OpenCV backend (the cross-backend test holds both to that).
Torch is an optional extra: this module is only imported when the torch backend is chosen.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from yolodetection.darknet.cfg import read_cfg
from yolodetection.darknet.graphs import CudaGraphRunner
from yolodetection.darknet.model import DarknetModel
from yolodetection.darknet.weights import init_random_weights, load_darknet_weights
from yolodetection.model_files import ModelFiles

log = logging.getLogger(__name__)

# OpenCV's Darknet yolo layer keeps class scores above 0.2 only; matching it keeps both
# backends' answers identical at any client threshold (see YoloHead).
OPENCV_SCORE_FLOOR = 0.2
DEFAULT_GRAPH_BATCH_SIZES = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class TorchOptions:
    """How to run the model. `half=None` means FP16 on CUDA, float32 on CPU."""

    device: str = "auto"
    half: bool | None = None
    cuda_graphs: bool = True
    graph_batch_sizes: tuple[int, ...] = DEFAULT_GRAPH_BATCH_SIZES
    score_floor: float = OPENCV_SCORE_FLOOR
    seed: int = 0


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when torch sees a GPU; asking for CUDA without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {name!r} requested but torch sees no CUDA GPU (torch {torch.__version__})"
        )
    if device.type not in {"cpu", "cuda"}:
        raise ValueError(f"device must be auto, cpu or cuda[:N], got {name!r}")
    return device


class TorchBackend:
    """Backend protocol over `DarknetModel`. Safe to call from many threads at once."""

    name = "torch"

    def __init__(
        self,
        cfg_path: str | os.PathLike[str],
        weights_path: str | os.PathLike[str] | None,
        options: TorchOptions = TorchOptions(),
    ) -> None:
        self.options = options
        self.torch_device = resolve_device(options.device)
        self.device = str(self.torch_device)
        on_cuda = self.torch_device.type == "cuda"
        self.dtype = torch.float16 if (on_cuda if options.half is None else options.half) else torch.float32
        cfg = read_cfg(cfg_path)
        model = DarknetModel(cfg, score_floor=options.score_floor)
        self.random_weights = weights_path is None
        if weights_path is None:
            log.warning(
                "no weights for %s: using random weights (fine for timing, useless for detection)", cfg_path
            )
            init_random_weights(model, seed=options.seed)
        else:
            load_darknet_weights(model, weights_path)
        model.eval().fuse_batchnorm()
        self.input_wh = cfg.input_wh
        self.channels = cfg.channels
        self.memory_format = torch.channels_last if on_cuda else torch.contiguous_format
        self.model = model.to(self.torch_device, self.dtype, memory_format=self.memory_format)
        # YOLO heads decode in float32 whatever the network dtype; keep their buffers float32.
        for head in self.model.yolo_heads():
            head.anchors_wh = head.anchors_wh.float()
        self._graphs: CudaGraphRunner | None = None
        if on_cuda:
            # Process-wide, but harmless: it only matters for CUDA convolutions.
            torch.backends.cudnn.benchmark = True
            if options.cuda_graphs:
                width, height = self.input_wh
                self._graphs = CudaGraphRunner(
                    self.model,
                    input_chw=(self.channels, height, width),
                    dtype=self.dtype,
                    device=self.torch_device,
                    batch_sizes=options.graph_batch_sizes,
                    channels_last=True,
                )
        log.info(
            "torch backend on %s, %s%s%s",
            self.device,
            str(self.dtype).removeprefix("torch."),
            ", CUDA graphs for batches " + str(options.graph_batch_sizes) if self._graphs else "",
            ", random weights" if self.random_weights else "",
        )

    @classmethod
    def from_files(
        cls,
        files: ModelFiles,
        options: TorchOptions = TorchOptions(),
        *,
        allow_random_weights: bool = False,
    ) -> TorchBackend:
        """Load cfg + weights; with `allow_random_weights`, a missing weights file means random."""
        if not files.cfg.is_file():
            raise FileNotFoundError(f"YOLO cfg missing: {files.cfg}")
        weights: Path | None = files.weights
        if not files.weights.is_file():
            if not allow_random_weights:
                raise FileNotFoundError(f"YOLO weights missing: {files.weights} (run `make models`)")
            weights = None
        return cls(files.cfg, weights, options)

    def close(self) -> None:
        """Free the network and its CUDA graphs, and give the device memory back; no frame may
        run on it afterwards (a replaced model version)."""
        self._graphs = None
        del self.model
        if self.torch_device.type == "cuda":
            torch.cuda.empty_cache()

    @property
    def uses_cuda_graphs(self) -> bool:
        return self._graphs is not None

    def warmup(self, batch_sizes: Sequence[int] = (1,)) -> None:
        """Run (and on CUDA, capture graphs for) these batch sizes before serving traffic."""
        width, height = self.input_wh
        if self._graphs is not None:
            self._graphs.capture_all()
        for batch in batch_sizes:
            self.forward_tensor(torch.zeros(batch, self.channels, height, width, device=self.torch_device))

    @torch.inference_mode()
    def forward_tensor(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Rows per [yolo] layer for a blob already on the device (the GPU frame path's entry)."""
        x = x.to(self.torch_device, self.dtype, non_blocking=True).contiguous(
            memory_format=self.memory_format
        )
        if self._graphs is None:
            return self.model(x)
        limit = self._graphs.max_batch
        chunks = [self._graphs.run(x[i : i + limit]) for i in range(0, x.shape[0], limit)]
        if len(chunks) == 1:
            return chunks[0]
        return [torch.cat(parts) for parts in zip(*chunks, strict=True)]

    def forward(self, blob: np.ndarray) -> list[np.ndarray]:
        """Backend protocol: numpy blob in, numpy rows out (one device-to-host copy in all)."""
        outputs = self.forward_tensor(torch.from_numpy(np.ascontiguousarray(blob, np.float32)))
        rows = [out.shape[1] for out in outputs]
        joined = torch.cat(outputs, dim=1).float().cpu().numpy()
        return np.split(joined, np.cumsum(rows)[:-1], axis=1)
