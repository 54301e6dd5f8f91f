"""Choose a backend by name, importing torch only when the torch backend is asked for."""

from __future__ import annotations

import logging

from yolodetection.backends import Backend
from yolodetection.model_files import ModelFiles

log = logging.getLogger(__name__)

BACKEND_NAMES = ("opencv", "torch")
DEVICE_NAMES = ("auto", "cpu", "cuda")


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def cuda_available() -> bool:
    """True when torch is installed and sees a GPU; never imports torch's CUDA if absent."""
    if not torch_available():
        return False
    import torch

    return torch.cuda.is_available()


def create_backend(
    name: str,
    files: ModelFiles,
    *,
    device: str = "auto",
    instances: int = 1,
    allow_random_weights: bool = False,
) -> Backend:
    """A backend for `files`. `device` is auto, cpu or cuda; `instances` sizes OpenCV's pool."""
    if device not in DEVICE_NAMES:
        raise ValueError(f"device must be one of {DEVICE_NAMES}, got {device!r}")
    if name == "opencv":
        from yolodetection.backends.opencv_dnn import OpenCVBackend

        backend = OpenCVBackend(files, prefer_cuda=device != "cpu", instances=instances)
        if device == "cuda" and backend.device != "cuda":
            raise RuntimeError(
                "YOLO device cuda requested, but this OpenCV has no CUDA (use the torch backend)"
            )
        return backend
    if name == "torch":
        if not torch_available():
            raise RuntimeError("the torch backend needs PyTorch: pip install 'liquidedge[torch]'")
        from yolodetection.backends.torch_backend import TorchBackend, TorchOptions

        return TorchBackend.from_files(
            files, TorchOptions(device=device), allow_random_weights=allow_random_weights
        )
    raise ValueError(f"backend must be one of {BACKEND_NAMES}, got {name!r}")
