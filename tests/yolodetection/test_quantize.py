"""INT8: the agreement rule, and what `make int8` prints and keeps.

The rule is tested on boxes made here (table); the command is run for real with a small
calibration set: it must print its figures against FP32 and write a version only when the
rule accepts it, a version the OpenVINO backend's `--precision auto` then runs on a CPU
without BF16.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liquidedge.detections import Detections
from yolodetection import quantize
from yolodetection.agreement import compare
from yolodetection.backends.factory import GraphOptions, select_backend
from yolodetection.model_files import ModelFiles
from yolodetection.model_version import ModelVersion, load_version
from yolodetection.onnx_export import find_converted


def boxes(*items: tuple[str, float, tuple[float, float, float, float]]) -> Detections:
    if not items:
        return Detections.empty()
    return Detections(
        xyxy=np.array([box for _, _, box in items], np.float32),
        confidence=np.array([score for _, score, _ in items], np.float32),
        label=np.array([label for label, _, _ in items], object),
        engine=np.full(len(items), "yolo", object),
    )


A = ("person", 0.9, (100, 100, 200, 300))
A_SHIFTED = ("person", 0.85, (105, 100, 205, 300))  # IoU 0.905
A_SHIFTED_FAR = ("person", 0.85, (130, 100, 230, 300))  # IoU 0.54: a counterpart, not agreeing
A_AS_DOG = ("dog", 0.9, (100, 100, 200, 300))
B = ("car", 0.5, (400, 50, 600, 150))


@pytest.mark.parametrize(
    ("reference", "candidate", "figures", "accepted"),
    [
        ([[A, B]], [[A_SHIFTED, B]], (2, 2, 0, 0), True),  # small shifts agree
        ([[A, B]], [[A_SHIFTED_FAR, B]], (2, 1, 0, 0), False),  # 50% agreeing is under 95%
        ([[A]], [[A_AS_DOG]], (1, 0, 1, 1), False),  # another class is a loss and a gain
        ([[A, B]], [[A]], (2, 1, 1, 0), False),  # a lost box
        ([[A]] * 40, [[A]] * 39 + [[A, B]], (40, 40, 0, 1), True),  # one gained box in 40 frames
        ([[A]] * 40, [[A, B]] * 4 + [[A]] * 36, (40, 40, 0, 4), False),  # more than a few gained
        ([[]], [[]], (0, 0, 0, 0), False),  # nothing to compare accepts nothing
    ],
)
def test_agreement_rule(
    reference: list[list[tuple]],
    candidate: list[list[tuple]],
    figures: tuple[int, int, int, int],
    accepted: bool,
) -> None:
    found = compare([boxes(*r) for r in reference], [boxes(*c) for c in candidate])
    assert (found.reference_boxes, found.agreeing, found.lost, found.gained) == figures
    assert found.accepted() is accepted


def test_make_int8_prints_its_figures_and_keeps_only_an_accepted_version(
    model_dir: str,
    fp32_version: ModelVersion,
    converted_cache: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = quantize.main(
        ["--model-dir", model_dir, "--converted-dir", str(converted_cache), "--samples", "24"]
    )
    printed = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + printed)
    assert " INT8 vs FP32: " in printed and "reference boxes" in printed
    assert (" BF16 vs FP32: " in printed) or ("this CPU has no BF16" in printed)
    files = ModelFiles.in_dir(model_dir)
    kept = find_converted(files, converted_cache, "int8")
    if status == 0:
        assert kept is not None and "ACCEPTED" in printed
        version = load_version(kept.path)  # every file matches its manifest
        assert version.manifest["parent"] == fp32_version.version
        # Where the CPU has no BF16, auto runs the accepted INT8 version.
        options = GraphOptions(converted_dir=converted_cache, capabilities=lambda: ["FP32", "INT8"])
        assert select_backend("auto", files, graph=options).precision == "int8"
    else:
        assert status == 1 and kept is None and "INT8 version rejected: not written" in printed
