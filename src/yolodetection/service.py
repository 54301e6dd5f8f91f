"""The YOLO detection service as importable parts: flags, model files, engine, checks, `start`.

`__main__` wires these to the command line; tests, the benchmarks and the demo load the same
engine (backend, batching, thresholds) from the same flags, so what they run is what
production runs.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from liquidedge.config import EnvDefaultsParser, add_common_flags, check_common, parse_bool
from liquidedge.engine import Engine
from liquidedge.legacy import robot_pb2_grpc
from liquidedge.metrics import ServiceMetrics
from liquidedge.modelslot import ModelSlot, SlotEngine
from liquidedge.server import ServiceBinding
from liquidedge.service import ServiceHandle, start_detector
from modelstore.serving import WatchedEngine, add_serving_flags, check_serving_args, serve_from_store
from yolodetection.backends.factory import BACKEND_NAMES, DEVICE_NAMES, Selected, select_backend
from yolodetection.batching import (
    DEFAULT_MAX_BATCH_CPU,
    DEFAULT_MAX_BATCH_GPU,
    DEFAULT_MAX_QUEUE_DELAY_MS,
    BatchEngine,
    BatchingSettings,
    DynamicBatcher,
)
from yolodetection.cfg import builtin_cfg
from yolodetection.cpu_flags import add_cpu_backend_flags, graph_options, report_selection
from yolodetection.engine import YoloEngine, YoloSettings
from yolodetection.model_files import DEFAULT_MODEL, ModelFiles
from yolodetection.servicer import LegacyYoloServicer
from yolodetection.store_model import (
    STORE_ENGINE,
    StoreModel,
    load_store_version,
    prune_conversions,
    smoke_test,
)

DEFAULT_PORT = 50055
DEFAULT_METRICS_PORT = 9155


def build_parser() -> EnvDefaultsParser:
    parser = EnvDefaultsParser(prog="yolodetection", description="Darknet YOLO object detection over gRPC")
    add_common_flags(parser, port=DEFAULT_PORT, metrics_port=DEFAULT_METRICS_PORT, max_in_flight=16)
    parser.env_flag(
        "--model-dir", "LIQUIDEDGE_MODEL_DIR", default="models", help="directory `make models` fills"
    )
    parser.env_flag(
        "--model", "YOLO_MODEL", default=DEFAULT_MODEL, help="model name: <dir>/<model>.cfg and .weights"
    )
    parser.env_flag("--cfg", "YOLO_CFG", default="", help="Darknet .cfg path (overrides --model-dir/--model)")
    parser.env_flag("--weights", "YOLO_WEIGHTS", default="", help="Darknet .weights path (overrides)")
    parser.env_flag("--names", "YOLO_NAMES", default="", help="class names file, one per line (overrides)")
    parser.env_flag(
        "--backend",
        "YOLO_BACKEND",
        default="auto",
        choices=list(BACKEND_NAMES),
        help="inference backend: auto (openvino where installed, else opencv; torch for --device cuda), "
        "opencv (cv2.dnn), torch (PyTorch, the GPU path), onnxruntime, openvino",
    )
    parser.env_flag(
        "--device", "YOLO_DEVICE", default="auto", choices=list(DEVICE_NAMES), help="where the network runs"
    )
    parser.env_flag(
        "--max-batch",
        "YOLO_MAX_BATCH",
        default=0,
        type=int,
        help=f"dynamic batching: most frames per forward pass; 0 = {DEFAULT_MAX_BATCH_GPU} on a GPU, 1 with "
        f"OpenVINO (its infer requests overlap concurrent frames), {DEFAULT_MAX_BATCH_CPU} otherwise; 1 = off",
    )
    parser.env_flag(
        "--max-queue-delay-ms",
        "YOLO_MAX_QUEUE_DELAY_MS",
        default=DEFAULT_MAX_QUEUE_DELAY_MS,
        type=float,
        help="dynamic batching: longest a frame waits for others to join its batch",
    )
    parser.env_flag(
        "--allow-random-weights",
        "YOLO_ALLOW_RANDOM_WEIGHTS",
        default=False,
        type=parse_bool,
        help="torch backend: run with random weights when the .weights file is missing (benchmarks only)",
    )
    parser.env_flag(
        "--score-threshold", "YOLO_SCORE_THRESHOLD", default=0.25, type=float, help="min class score"
    )
    parser.env_flag(
        "--nms-threshold", "YOLO_NMS_THRESHOLD", default=0.45, type=float, help="NMS IoU threshold"
    )
    parser.env_flag("--instances", "YOLO_INSTANCES", default=1, type=int, help="networks run in parallel")
    add_cpu_backend_flags(parser)
    add_serving_flags(parser, model_name=DEFAULT_MODEL)
    return parser


def model_files(args: argparse.Namespace) -> ModelFiles:
    files = ModelFiles.in_dir(args.model_dir, args.model)
    if not args.cfg and not files.cfg.is_file():
        # The production YOLOv3 cfg ships with the package; only its weights need fetching.
        with contextlib.suppress(FileNotFoundError):
            files = ModelFiles(builtin_cfg(args.model), files.weights, files.names)
    return ModelFiles(
        cfg=Path(args.cfg) if args.cfg else files.cfg,
        weights=Path(args.weights) if args.weights else files.weights,
        names=Path(args.names) if args.names else files.names,
    )


def yolo_settings(args: argparse.Namespace) -> YoloSettings:
    """Post-processing thresholds from the flags; raises ValueError on values out of range."""
    return YoloSettings(score_threshold=args.score_threshold, nms_threshold=args.nms_threshold)


def check_files(args: argparse.Namespace, files: ModelFiles) -> None:
    random_ok = args.allow_random_weights and args.backend == "torch"
    needed = (files.cfg, files.names) if random_ok else (files.cfg, files.weights, files.names)
    if args.onnx:  # the graph replaces cfg and weights; a version directory brings its names
        needed = () if Path(args.onnx).is_dir() else (files.names,)
    for path in needed:
        if not path.is_file():
            raise FileNotFoundError(f"YOLO model file missing: {path} (run `make models`)")


def build_engine(
    args: argparse.Namespace, files: ModelFiles, *, names_from_backend: bool = True
) -> tuple[YoloEngine, Selected, int]:
    """The engine for `files` on the backend the flags choose, warm; its choice and batch size.

    `names_from_backend`: a graph that brings its own class names (`--onnx` version directory,
    a converted model) names the classes; a store version always names them itself.
    """
    chosen = select_backend(
        args.backend,
        files,
        device=args.device,
        instances=args.instances,
        allow_random_weights=args.allow_random_weights,
        graph=graph_options(args),
    )
    backend = chosen.backend
    names = (getattr(backend, "names", None) if names_from_backend else None) or files.names
    input_wh = getattr(backend, "input_wh", None) or files.input_size()
    class_names = ModelFiles(files.cfg, files.weights, names).class_names()
    engine = YoloEngine(backend, class_names, input_wh, yolo_settings(args))
    max_batch = (
        args.max_batch
        or getattr(backend, "preferred_max_batch", 0)
        or (DEFAULT_MAX_BATCH_GPU if backend.device.startswith("cuda") else DEFAULT_MAX_BATCH_CPU)
    )
    warmup = getattr(backend, "warmup", None)
    if warmup is not None:  # torch: cuDNN autotuning and CUDA graphs before the first frame
        warmup((1, max_batch))
    engine.warm_up()
    return engine, chosen, max_batch


def with_batcher(args: argparse.Namespace, engine: BatchEngine, max_batch: int) -> Engine:
    """`engine` behind a dynamic batcher, unless batches of one are asked for."""
    if max_batch == 1:
        return engine  # type: ignore[return-value]  # both engines have detect()
    batching = BatchingSettings(
        max_batch=max_batch, max_queue_delay_ms=args.max_queue_delay_ms, max_queue=max(256, 4 * max_batch)
    )
    return DynamicBatcher(engine, batching)


def load_engine(args: argparse.Namespace, selected: list[Selected] | None = None) -> Engine:
    """The engine, behind a dynamic batcher unless --max-batch is 1; `selected` gets the choice."""
    files = model_files(args)
    check_files(args, files)
    engine, chosen, max_batch = build_engine(args, files)
    if selected is not None:
        selected.append(chosen)
    return with_batcher(args, engine, max_batch)


def load_store_engine(args: argparse.Namespace, metrics: ServiceMetrics) -> WatchedEngine:
    """`--model-store`: the channel's version in a model slot, each new one loaded beside it.

    With batching on, the batcher sits in front of the slot (a batch runs on one version);
    the batch size is the first version's. The backend each serving version runs on is
    logged and exported as it starts to serve.
    """
    slot: ModelSlot[StoreModel] = ModelSlot(
        STORE_ENGINE, smoke=smoke_test, close_model=StoreModel.close, metrics=metrics
    )

    def build(files: ModelFiles) -> tuple[YoloEngine, Selected, int]:
        return build_engine(args, files, names_from_backend=False)

    conversions: list[str] = []  # what this process converted and served, the serving one last

    def serving(model: StoreModel) -> None:
        """A version now serves: say which backend runs it, drop the conversions of earlier ones."""
        report_selection(model.selected, metrics)
        prune_conversions(args, model, conversions)

    def batched(slot_engine: SlotEngine) -> Engine:
        with slot.lease() as lease:
            max_batch = lease.model.max_batch
        return with_batcher(args, slot_engine, max_batch)

    return serve_from_store(
        args,
        slot,
        lambda local: load_store_version(args, local, build),
        engine=STORE_ENGINE,
        wrap=batched,
        on_serving=serving,
    )


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The flags' values, as `parser.error`: common flags, thresholds, batching.

    The model files are checked apart (`check_model_files`): they belong to the machine the
    service runs on, not to its configuration (the manifests' tests check values offline).
    """
    check_common(parser, args)
    check_serving_args(parser, args)
    if args.model_store and args.onnx:
        parser.error("--onnx and --model-store both name the model; give one")
    try:
        yolo_settings(args)
        graph_options(args)
        BatchingSettings(max_batch=args.max_batch or 1, max_queue_delay_ms=args.max_queue_delay_ms)
    except ValueError as error:
        parser.error(str(error))


def check_model_files(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The model files the flags name are there, as `parser.error` (`make models` fetches them).

    With `--model-store` the model comes from the store (checked when it loads).
    """
    if args.model_store:
        return
    try:
        check_files(args, model_files(args))
    except FileNotFoundError as error:
        parser.error(str(error))


def check_args_and_files(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What `main` checks before serving: the flags, then that the model files are there."""
    check_args(parser, args)
    check_model_files(parser, args)


def start(args: argparse.Namespace) -> ServiceHandle:
    """Serve YOLO on `args.host:args.port` (0 picks a port); SERVING once loaded and warm.

    The batcher, when there is one, is closed with the service (`start_detector` closes an
    engine that has `close`). The backend it chose is logged and exported once it runs. With
    `--model-store` the model comes from the store's channel and is replaced while serving.
    """
    metrics = ServiceMetrics("yolodetection")
    selected: list[Selected] = []

    def load() -> Engine:
        if args.model_store:
            return load_store_engine(args, metrics)
        return load_engine(args, selected)

    handle = start_detector(
        "yolodetection",
        "yolo",
        lambda detector: ServiceBinding(
            LegacyYoloServicer(detector), robot_pb2_grpc.add_YoloDetectionServicer_to_server, "YoloDetection"
        ),
        args,
        load,
        metrics=metrics,
    )
    for choice in selected:
        report_selection(choice, handle.metrics)
    return handle
