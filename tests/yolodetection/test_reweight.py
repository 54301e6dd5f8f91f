"""New weights for a converted cfg, without torch: the same graph and answers as torch's export."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from meshtools.swap_versions import retrained_weights
from yolodetection.engine import make_blob
from yolodetection.model_files import ModelFiles
from yolodetection.model_version import ModelVersion
from yolodetection.onnx_export import export_onnx, find_converted, reweight_cached
from yolodetection.onnx_reweight import ReweightError


def with_weights(files: ModelFiles, folder: Path, weights: bytes) -> ModelFiles:
    folder.mkdir(parents=True, exist_ok=True)
    for path in (files.cfg, files.names):
        shutil.copyfile(path, folder / path.name)
    (folder / files.weights.name).write_bytes(weights)
    return ModelFiles(folder / files.cfg.name, folder / files.weights.name, folder / files.names.name)


def template_cache(fp32_version: ModelVersion, tmp_path: Path) -> Path:
    """A converted cache holding only the embedded model's torch conversion."""
    cache = tmp_path / "converted"
    shutil.copytree(fp32_version.path, cache / fp32_version.path.name)
    return cache


def initializers(version: ModelVersion) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(version.model)).graph.initializer}


def rows(version: ModelVersion, image_bgr: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(version.model), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: make_blob([image_bgr], version.input_wh)})


def test_retrained_weights_put_into_the_cached_graph_answer_as_torch_export_does(
    files: ModelFiles, fp32_version: ModelVersion, tmp_path: Path, images: dict[str, np.ndarray]
) -> None:
    retrained = with_weights(files, tmp_path / "retrained", retrained_weights(files.weights.read_bytes()))
    by_torch = export_onnx(retrained, tmp_path / "torch")
    cache = template_cache(fp32_version, tmp_path)
    reweighted = reweight_cached(retrained, cache)
    assert reweighted is not None
    assert reweighted.version == by_torch.version  # the same cache key: found as converted from now on
    assert find_converted(retrained, cache) == reweighted
    ours, theirs = initializers(reweighted), initializers(by_torch)
    assert sorted(ours) == sorted(theirs)
    for name, array in theirs.items():  # batch norm folded in float32 both ways, a few ulps apart
        np.testing.assert_allclose(ours[name], array, rtol=1e-5, atol=1e-6, err_msg=name)
    for name, image in images.items():
        for mine, torch_rows in zip(rows(reweighted, image), rows(by_torch, image), strict=True):
            np.testing.assert_allclose(mine, torch_rows, atol=1e-5, err_msg=name)


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda data: data[: len(data) // 2], "truncated"),  # an upload cut short
        (lambda data: data + b"\0" * 8, "cfg and weights do not match"),  # weights of a bigger network
    ],
)
def test_weights_that_do_not_fit_the_cfg_are_refused(
    files: ModelFiles, fp32_version: ModelVersion, tmp_path: Path, cut: Callable[[bytes], bytes], message: str
) -> None:
    bad = with_weights(files, tmp_path / "bad", cut(files.weights.read_bytes()))
    cache = template_cache(fp32_version, tmp_path)
    with pytest.raises(ReweightError, match=message):
        reweight_cached(bad, cache)
    assert sorted(p.name for p in cache.iterdir()) == [fp32_version.path.name]  # nothing half-written


def test_a_conversion_of_another_cfg_is_no_template(
    files: ModelFiles, fp32_version: ModelVersion, tmp_path: Path
) -> None:
    other = with_weights(files, tmp_path / "other", retrained_weights(files.weights.read_bytes()))
    other.cfg.write_text(files.cfg.read_text() + "\n# another network\n")
    assert reweight_cached(other, template_cache(fp32_version, tmp_path)) is None


def test_without_torch_a_new_version_of_a_converted_cfg_is_converted(
    files: ModelFiles, fp32_version: ModelVersion, tmp_path: Path
) -> None:
    """The CPU image has no torch: a retrained model for its baked-in network still converts."""
    retrained = with_weights(files, tmp_path / "retrained", retrained_weights(files.weights.read_bytes()))
    cache = template_cache(fp32_version, tmp_path)
    code = (
        "import sys; sys.modules['torch'] = None; from pathlib import Path; "
        "from yolodetection.model_files import ModelFiles; from yolodetection.onnx_export import ensure_onnx; "
        f"print(ensure_onnx(ModelFiles.in_dir({str(retrained.cfg.parent)!r}), Path({str(cache)!r})).manifest['made_by'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"yolodetection.onnx_reweight: {fp32_version.version} with new weights")


def test_the_image_conversion_is_a_template_for_a_cache_elsewhere(
    files: ModelFiles, fp32_version: ModelVersion, tmp_path: Path
) -> None:
    """In a pod the cache is a writable volume; the image's read-only /models/converted is the template."""
    retrained = with_weights(files, tmp_path / "retrained", retrained_weights(files.weights.read_bytes()))
    image_dir = template_cache(fp32_version, tmp_path)
    volume = tmp_path / "volume"
    reweighted = reweight_cached(retrained, volume, template_dirs=[image_dir])
    assert reweighted is not None and reweighted.path.parent == volume
    assert sorted(p.name for p in image_dir.iterdir()) == [fp32_version.path.name]  # read, not written
