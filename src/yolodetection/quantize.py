"""`python -m yolodetection.quantize` (`make int8`): an INT8 version of the YOLO model, checked.

Post-training quantisation with NNCF on frames made from photographs registry packages ship
(`yolodetection.calibration`), then the INT8 network's detections are compared with FP32's
on held-out frames (`yolodetection.agreement`). The figures are printed; only an accepted
version is written, as its own model version directory (OpenVINO IR, the class names and a
manifest with every file's SHA-256 and the agreement figures) beside the FP32 conversion,
where the OpenVINO backend's `--precision auto` finds it. Exit status 1 when rejected.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

import numpy as np

from liquidedge.detections import Detections
from liquidedge.logs import configure_logging
from liquidedge.photos import load_face_photos
from yolodetection.agreement import MAX_CHANGED, MIN_AGREEING, MIN_IOU, Agreement, compare
from yolodetection.backends.onnx_model import GraphModel, converted_dir
from yolodetection.backends.openvino_backend import OpenVINOBackend, OpenVINOOptions
from yolodetection.calibration import calibration_frames, held_out_frames
from yolodetection.engine import YoloEngine, YoloSettings, make_blob
from yolodetection.model_files import DEFAULT_MODEL, ModelFiles
from yolodetection.model_version import ModelVersion, VersionWriter
from yolodetection.onnx_export import ensure_onnx, find_converted, source_key, version_name
from yolodetection.precision import openvino_cpu_capabilities

log = logging.getLogger(__name__)

# The YOLO heads' arithmetic stays in float: only the convolutions are quantised. Quantising the
# score product (class score x objectness) with the rest zeroed every class score below 0.2.
HEAD_OP_TYPES = ("Multiply", "Add", "Divide", "Sigmoid", "Exp", "Concat", "Greater", "Select")


def run_engine(
    graph: GraphModel, precision: str, frames: Sequence[np.ndarray], has_bf16: bool
) -> list[Detections]:
    backend = OpenVINOBackend(graph, OpenVINOOptions(precision=precision, cpu_has_bf16=has_bf16))
    names = graph.names.read_text("utf-8").split() if graph.names else []
    engine = YoloEngine(backend, names, backend.input_wh, YoloSettings())
    return [engine.detect(frame) for frame in frames]


def quantize_model(fp32: ModelVersion, calibration: Sequence[np.ndarray]):
    import nncf
    import openvino as ov

    nncf.set_log_level(logging.WARNING)  # its per-operation notes would drown the figures
    model = ov.Core().read_model(str(fp32.model))
    width, height = fp32.input_wh
    model.reshape({model.inputs[0].get_any_name(): [1, 3, height, width]})
    dataset = nncf.Dataset(list(calibration), lambda frame: make_blob([frame], (width, height)))
    ignored = nncf.IgnoredScope(types=list(HEAD_OP_TYPES), validate=False)
    return nncf.quantize(model, dataset, subset_size=len(calibration), ignored_scope=ignored)


def figures_line(name: str, agreement: Agreement) -> str:
    verdict = "ACCEPTED" if agreement.accepted() else "REJECTED"
    return f"{name:>5} vs FP32: {agreement.summary()} -> {verdict}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", default="models", help="where `make models` put the Darknet files")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model name in the model directory")
    parser.add_argument("--converted-dir", default="", help="version cache; default <model-dir>/converted")
    parser.add_argument("--samples", type=int, default=120, help="calibration frames")
    parser.add_argument("--force", action="store_true", help="quantise again even when a version exists")
    args = parser.parse_args(argv)
    configure_logging("yolodetection-quantize", fmt="text")
    files = ModelFiles.in_dir(args.model_dir, args.model)
    cache = converted_dir(args.model_dir, args.converted_dir)
    existing = find_converted(files, cache, "int8")
    if existing is not None and not args.force:
        print(f"INT8 version already accepted: {existing.path}")
        print(existing.manifest.get("agreement", {}).get("summary", ""))
        return 0
    fp32 = ensure_onnx(files, cache)
    photos = load_face_photos(args.model_dir)
    calibration = list(calibration_frames(photos, args.samples))
    held_out = held_out_frames(photos)
    has_bf16 = "BF16" in openvino_cpu_capabilities()
    started = time.perf_counter()
    quantized = quantize_model(fp32, calibration)
    print(f"quantised with {len(calibration)} calibration frames in {time.perf_counter() - started:.0f} s")

    import openvino as ov

    writer = VersionWriter(cache, version_name(files, "int8", source_key(files)))
    try:
        ov.save_model(quantized, str(writer.file("model.xml")), compress_to_fp16=False)
        writer.file("names.txt").write_bytes(fp32.names.read_bytes())
        frames = list(held_out.values())
        fp32_graph = GraphModel.from_version(fp32)
        int8_graph = GraphModel(
            writer.file("model.xml"),
            "candidate",
            "int8",
            fp32.layout,
            fp32.input_wh,
            writer.file("names.txt"),
        )
        reference = run_engine(fp32_graph, "fp32", frames, has_bf16)
        int8 = compare(reference, run_engine(int8_graph, "int8", frames, has_bf16))
        print(
            f"held-out: {len(frames)} frames; rule: >= {MIN_AGREEING:.0%} of FP32 boxes matched by class at "
            f"IoU >= {MIN_IOU}, at most {MAX_CHANGED} boxes lost + gained"
        )
        print(figures_line("INT8", int8))
        if has_bf16:
            print(figures_line("BF16", compare(reference, run_engine(fp32_graph, "bf16", frames, has_bf16))))
        else:
            print(" BF16: not measured, this CPU has no BF16")
        if not int8.accepted():
            writer.abandon()
            print("INT8 version rejected: not written")
            return 1
        manifest = {
            k: v for k, v in fp32.manifest.items() if k not in {"files", "format", "version", "model"}
        }
        version = writer.commit(
            {
                **manifest,
                "model": "model.xml",
                "precision": "int8",
                "made_by": f"yolodetection.quantize (nncf post-training, {len(calibration)} frames)",
                "parent": fp32.version,
                "agreement": {
                    "summary": int8.summary(),
                    "figures": int8.__dict__,
                    "held_out_frames": len(frames),
                },
            }
        )
    except BaseException:
        writer.abandon()
        raise
    print(f"INT8 version accepted and written: {version.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
