"""Which backend and precision the YOLO service runs, and that it says so.

The CPU's capabilities are injected (a probe), OpenVINO's absence is forced by hiding the
module in a subprocess, and the conversion cache is checked to convert once and to refuse a
damaged version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshtools.samples import SampleFrame
from support.calls import detect, metric_sum, scrape
from yolodetection.backends.factory import GraphOptions, select_backend
from yolodetection.model_files import ModelFiles
from yolodetection.model_version import ManifestError, ModelVersion, load_version
from yolodetection.onnx_export import ensure_onnx
from yolodetection.precision import choose_precision

ALL = ("FP32", "BF16", "INT8")


@pytest.mark.parametrize(
    ("requested", "capabilities", "int8", "expected", "fell_back", "reason"),
    [
        ("auto", ALL, False, "bf16", False, "BF16, the best"),  # this build machine
        ("auto", ALL, True, "bf16", False, "BF16, the best"),  # BF16 agrees with FP32; INT8 is not needed
        ("auto", ("FP32", "INT8"), False, "fp32", True, "no quantised INT8"),
        ("auto", ("FP32", "INT8"), False, "fp32", True, "no BF16"),  # an older Xeon without BF16
        ("auto", ("FP32", "INT8"), True, "int8", False, "the CPU has no BF16"),  # VNNI without BF16
        ("auto", ("FP32",), True, "fp32", True, "no INT8"),
        ("bf16", ("FP32",), False, "fp32", True, "BF16 requested but the CPU has no BF16"),
        ("int8", ALL, False, "fp32", True, "make int8"),
        ("fp32", ALL, True, "fp32", False, "FP32 as requested"),
        ("bf16", ALL, False, "bf16", False, "BF16 as requested"),
    ],
)
def test_precision_follows_the_cpu_and_the_model_store(
    requested: str, capabilities: tuple[str, ...], int8: bool, expected: str, fell_back: bool, reason: str
) -> None:
    choice = choose_precision(requested, capabilities, int8_available=int8)
    assert (choice.precision, choice.fell_back) == (expected, fell_back)
    assert reason in choice.reason


def test_an_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision("fp8", ALL, int8_available=False)


def test_a_cpu_without_bf16_runs_openvino_fp32_and_says_why(model_dir: str, converted_cache: Path) -> None:
    options = GraphOptions(converted_dir=converted_cache, capabilities=lambda: ["FP32", "INT8"])
    selected = select_backend("auto", ModelFiles.in_dir(model_dir), graph=options)
    assert (selected.backend.name, selected.precision, selected.fell_back) == ("openvino", "fp32", True)
    assert "the CPU has no BF16" in selected.reason
    compiled = selected.backend._compiled  # type: ignore[attr-defined]
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) in {"f32", "<Type: 'float32'>"}


def test_conversion_happens_once_and_the_version_is_checked(
    model_dir: str, fp32_version: ModelVersion, converted_cache: Path, tmp_path: Path
) -> None:
    again = ensure_onnx(ModelFiles.in_dir(model_dir), converted_cache)
    assert again.path == fp32_version.path
    assert again.model.stat().st_mtime_ns == fp32_version.model.stat().st_mtime_ns  # not rewritten
    manifest = again.manifest
    assert (
        manifest["source"]["weights_sha256"]
        == "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"
    )
    assert set(manifest["files"]) == {"model.onnx", "names.txt"}
    # A copy with one byte changed is refused by its manifest.
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in (*manifest["files"], "manifest.json"):
        (copy / name).write_bytes((again.path / name).read_bytes())
    with open(copy / "names.txt", "ab") as handle:
        handle.write(b"x")
    with pytest.raises(ManifestError, match=r"names\.txt has SHA-256"):
        load_version(copy)
    # In a cache, a damaged version is set aside and converted again.
    cache = tmp_path / "cache"
    cache.mkdir()
    (copy).rename(cache / again.path.name)
    fresh = ensure_onnx(ModelFiles.in_dir(model_dir), cache)
    assert fresh.path == cache / again.path.name and set(fresh.manifest["files"]) == set(manifest["files"])
    load_version(fresh.path)  # whole again
    assert [p.name for p in cache.glob("*.damaged-*")] == [f"{again.path.name}.damaged-{os.getpid()}"]


def run_python(
    code: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


HIDE = "import sys; sys.modules[{name!r}] = None; "


def test_without_torch_or_a_converted_model_the_service_falls_back_to_opencv(
    model_dir: str, tmp_path: Path
) -> None:
    code = HIDE.format(name="torch") + (
        "from yolodetection.backends.factory import GraphOptions, select_backend; "
        "from yolodetection.model_files import ModelFiles; from pathlib import Path; "
        f"s = select_backend('auto', ModelFiles.in_dir({model_dir!r}), "
        f"graph=GraphOptions(converted_dir=Path({str(tmp_path)!r}))); "
        "print(s.backend.name, s.fell_back, s.reason)"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("opencv True OpenCV DNN (fallback): no converted model")
    assert "PyTorch is not installed" in done.stdout


def test_without_openvino_the_service_serves_on_opencv_and_says_so(
    model_dir: str, frames: dict[str, SampleFrame]
) -> None:
    code = HIDE.format(name="openvino") + (
        "import json; from support.services import start_yolo; "
        f"h = start_yolo({model_dir!r}, '--max-batch', '1', '--log-format', 'text'); "
        "print(json.dumps({'port': h.port, 'metrics': h.metrics_port}), flush=True); "
        "sys.stdin.readline(); h.stop(0)"
    )
    tests_dir = str(Path(__file__).resolve().parent.parent)
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([tests_dir, os.environ.get("PYTHONPATH", "")])},
    )
    try:
        ports = json.loads(process.stdout.readline() or "{}")  # type: ignore[union-attr]
        assert ports, process.stderr.read()  # type: ignore[union-attr]
        reply = detect(ports["port"], frames["camera"].jpeg, timeout_s=60)
        assert any(d.label == "person" for d in reply.detections)
        info = {"backend": "opencv", "engine": "yolo", "fallback": "true", "precision": "fp32"}
        assert metric_sum(scrape(ports["metrics"]), "liquidedge_backend_info", **info) == 1
    finally:
        _, stderr = process.communicate("\n", timeout=60)
    assert "OpenCV DNN (fallback): OpenVINO is not installed" in stderr
