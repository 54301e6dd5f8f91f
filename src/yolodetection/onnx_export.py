"""Darknet cfg + weights -> ONNX, through our own `DarknetModel`, cached by content hash.

OpenVINO and ONNX Runtime both read ONNX, so one conversion serves both. The conversion
needs PyTorch (imported here only); the result is an ordinary model version directory
(`yolodetection.model_version`) named after the SHA-256 of the cfg and weights, so a restart
finds it and does not convert again, and a container image can ship the directory and run
without torch. Outputs are one row tensor per [yolo] layer in the backend convention
(`yolodetection.backends`), with OpenCV's class-score floor applied, so every backend's rows
can be compared with OpenCV's row for row.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from liquidedge.package_files import sha256_of
from yolodetection.model_files import ModelFiles
from yolodetection.model_version import ManifestError, ModelVersion, VersionWriter, load_version
from yolodetection.onnx_layouts import DARKNET_ROWS, LAYOUT_METADATA_KEY

log = logging.getLogger(__name__)

# Bump when the exported graph changes for the same cfg and weights (a new opset, a head
# change): old cache entries then stop matching instead of being loaded.
EXPORT_REVISION = 1
OPSET = 17
# OpenCV's Darknet yolo layer keeps class scores above 0.2 only (see torch_backend).
SCORE_FLOOR = 0.2
# A service converting a new model version while it serves runs the conversion at this
# niceness: the frames in flight come first, the conversion takes the CPU time they leave.
CHILD_NICENESS = 10


def source_key(files: ModelFiles, score_floor: float = SCORE_FLOOR) -> str:
    """What the conversion depends on: the cfg, the weights, the exporter, the score floor."""
    digest = hashlib.sha256()
    for part in (
        sha256_of(files.cfg),
        sha256_of(files.weights),
        f"rev{EXPORT_REVISION}",
        f"floor{score_floor}",
    ):
        digest.update(part.encode())
    return digest.hexdigest()


def version_name(files: ModelFiles, precision: str, key: str) -> str:
    return f"{files.cfg.stem}-{key[:12]}-{precision}"


def find_converted(files: ModelFiles, cache_dir: Path, precision: str = "fp32") -> ModelVersion | None:
    """The cached version for these files and precision, checked, or None."""
    path = cache_dir / version_name(files, precision, source_key(files))
    if not (path / "manifest.json").is_file():
        return None
    try:
        return load_version(path)
    except ManifestError as error:
        log.warning("ignoring a damaged converted model: %s", error)
        # Out of the way, so a new conversion can take its name (kept for a post-mortem).
        with contextlib.suppress(OSError):
            path.rename(path.with_name(f"{path.name}.damaged-{os.getpid()}"))
        return None


def ensure_onnx(files: ModelFiles, cache_dir: str | os.PathLike[str]) -> ModelVersion:
    """The FP32 ONNX version of `files`: from the cache, the cached conversion of the same cfg
    with these weights put in (numpy), or converted now (needs torch)."""
    cache = Path(cache_dir)
    found = find_converted(files, cache)
    if found is not None:
        log.info("converted model found: %s", found.path)
        return found
    return reweight_cached(files, cache) or export_onnx(files, cache)


def _source(files: ModelFiles, key: str) -> dict[str, str]:
    return {
        "cfg": files.cfg.name,
        "cfg_sha256": sha256_of(files.cfg),
        "weights": files.weights.name,
        "weights_sha256": sha256_of(files.weights),
        "key": key,
    }


def reweight_cached(
    files: ModelFiles,
    cache_dir: Path,
    *,
    template_dirs: Sequence[Path] = (),
    score_floor: float = SCORE_FLOOR,
) -> ModelVersion | None:
    """`files` converted into `cache_dir` from a conversion of the same cfg found there or in
    `template_dirs` (`onnx_reweight`), or None when there is none. Raises `ReweightError` for
    weights that do not fit the cfg."""
    from yolodetection.onnx_reweight import find_template, reweight

    template = find_template(files, [cache_dir, *template_dirs], EXPORT_REVISION, score_floor)
    if template is None:
        return None
    key = source_key(files, score_floor)
    return reweight(
        template,
        files,
        cache_dir,
        version_name(files, "fp32", key),
        export_revision=EXPORT_REVISION,
        source=_source(files, key),
    )


def export_onnx(files: ModelFiles, cache_dir: Path, *, score_floor: float = SCORE_FLOOR) -> ModelVersion:
    """Convert now and write the version directory (model.onnx, the names, manifest.json)."""
    try:
        import torch
    except ImportError as error:
        raise RuntimeError(
            f"no converted model for {files.cfg.name} in {cache_dir} and PyTorch is not installed to "
            "make one: run `python -m yolodetection.convert` where torch is (pip install 'liquidedge[torch]')"
        ) from error
    from yolodetection.darknet.cfg import read_cfg
    from yolodetection.darknet.model import DarknetModel
    from yolodetection.darknet.weights import load_darknet_weights

    files.check()
    key = source_key(files, score_floor)
    cfg = read_cfg(files.cfg)
    model = DarknetModel(cfg, score_floor=score_floor)
    load_darknet_weights(model, files.weights)
    model.eval().fuse_batchnorm()
    width, height = cfg.input_wh
    outputs = [f"rows{i}" for i in range(len(model.yolo_indices))]
    writer = VersionWriter(cache_dir, version_name(files, "fp32", key))
    try:
        onnx_path = writer.file("model.onnx")
        example = torch.zeros(1, cfg.channels, height, width)
        # The TorchScript exporter (dynamo=False): it needs no onnxscript and handles our
        # Python-level graph walk; its constant-folding notes are noise here.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (example,),
                str(onnx_path),
                input_names=["images"],
                output_names=outputs,
                dynamic_axes={"images": {0: "batch"}, **{name: {0: "batch"} for name in outputs}},
                opset_version=OPSET,
                dynamo=False,
            )
        _tag_layout(onnx_path)
        writer.file("names.txt").write_bytes(files.names.read_bytes())
        version = writer.commit(
            {
                "model": "model.onnx",
                "names": "names.txt",
                "precision": "fp32",
                "layout": DARKNET_ROWS,
                "input_wh": [width, height],
                "classes": model.yolo_heads()[0].classes,
                "score_floor": score_floor,
                "export_revision": EXPORT_REVISION,
                "source": _source(files, key),
                "made_by": f"yolodetection.onnx_export rev{EXPORT_REVISION}, torch {torch.__version__}",
            }
        )
    except BaseException:
        writer.abandon()
        raise
    log.info("converted %s to ONNX: %s", files.weights.name, version.path)
    return version


def _tag_layout(onnx_path: Path) -> None:
    """Say in the graph itself which row convention its outputs follow."""
    import onnx

    proto = onnx.load(str(onnx_path))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = LAYOUT_METADATA_KEY, DARKNET_ROWS
    onnx.save(proto, str(onnx_path))


def convert_in_child(
    files: ModelFiles,
    cache_dir: Path,
    *,
    template_dirs: Sequence[Path] = (),
    niceness: int = CHILD_NICENESS,
    timeout_s: float = 600.0,
) -> ModelVersion:
    """`ensure_onnx` the way a serving process converts a new version.

    New weights for a cfg converted before are put into that conversion here (numpy, well
    under a second). A new network is converted by torch in a child process at a lower CPU
    priority: seconds of Python and torch that in the serving process would hold the GIL
    against the frames in flight (and leave torch in its memory for good). Raises
    RuntimeError with the child's last words when it fails, `ReweightError` for weights that
    do not fit the cfg.
    """
    found = find_converted(files, cache_dir) or reweight_cached(files, cache_dir, template_dirs=template_dirs)
    if found is not None:
        return found
    command = [
        sys.executable, "-m", "yolodetection.onnx_export",
        "--cfg", str(files.cfg), "--weights", str(files.weights), "--names", str(files.names),
        "--converted-dir", str(cache_dir),
    ]  # fmt: skip
    # No close_fds: Python then spawns without fork() (posix_spawn), which a process full of
    # gRPC threads prefers; every descriptor it opened is close-on-exec anyway.
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, close_fds=False
    )
    with contextlib.suppress(OSError):  # lowering one's own child's priority needs no privilege
        os.setpriority(os.PRIO_PROCESS, child.pid, niceness)
    try:
        _, errors = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise RuntimeError(f"converting {files.weights.name} took over {timeout_s:.0f} s") from None
    found = find_converted(files, cache_dir)
    if child.returncode != 0 or found is None:
        last = errors.strip().splitlines()[-1] if errors.strip() else f"exit status {child.returncode}"
        raise RuntimeError(f"converting {files.weights.name} to ONNX failed: {last}")
    log.info("converted %s in a child process: %s", files.weights.name, found.path)
    return found


def main(argv: list[str] | None = None) -> int:
    """`python -m yolodetection.onnx_export` (`make convert`): convert once, e.g. in an image build."""
    import argparse

    from liquidedge.logs import configure_logging
    from yolodetection.backends.onnx_model import converted_dir

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", default="models", help="where the Darknet files are")
    parser.add_argument("--model", default="yolov3-tiny", help="model name in the model directory")
    parser.add_argument("--converted-dir", default="", help="version cache; default <model-dir>/converted")
    parser.add_argument("--cfg", default="", help="Darknet .cfg path (instead of the model directory's)")
    parser.add_argument(
        "--weights", default="", help="Darknet .weights path (instead of the model directory's)"
    )
    parser.add_argument("--names", default="", help="class names file (instead of the model directory's)")
    args = parser.parse_args(argv)
    configure_logging("yolodetection-convert", fmt="text")
    files = ModelFiles.in_dir(args.model_dir, args.model)
    files = ModelFiles(
        cfg=Path(args.cfg or files.cfg),
        weights=Path(args.weights or files.weights),
        names=Path(args.names or files.names),
    )
    try:
        version = ensure_onnx(files, converted_dir(args.model_dir, args.converted_dir))
    except (OSError, ValueError, RuntimeError) as error:  # one line for the parent to show
        log.error("conversion failed: %s", error)
        return 1
    print(version.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
