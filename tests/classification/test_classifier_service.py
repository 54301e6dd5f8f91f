"""The classification service on a real gRPC port, its model from a store channel, in the mesh.

Versions are trained here on crops of the sample textures (a few seconds), published into a
local-directory store and served by the real service; the aggregator reaches it through its
`classifier` engine row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from classifierkit import trained_model

from classification.features import BackboneFeatures
from classification.model import ENGINE, FORMAT, HEAD_FILE, ClassifierModel
from classification.service import build_parser, check_args, start
from liquidedge.imaging import encode_jpeg
from liquidedge.service import ServiceHandle
from meshtools.samples import SampleFrame
from modelstore import ModelStore, open_store
from modeltrainer.sample_dataset import held_out_crops
from support.calls import SERVING, detect, health_status, metric_sum, scrape
from support.services import start_aggregator
from support.waiting import wait_for


def trained(features: BackboneFeatures, labels: tuple[str, ...]) -> ClassifierModel:
    return trained_model(features, labels, per_label=10, max_iterations=200)


def publish(store: ModelStore, model: ClassifierModel, folder: Path) -> str:
    return store.publish("classifier", model.save(folder), engine=ENGINE, format=FORMAT).version


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("classifier-store") / "store"


@pytest.fixture(scope="module")
def store(store_root: Path) -> ModelStore:
    return open_store(str(store_root))


@pytest.fixture(scope="module")
def first(store: ModelStore, features: BackboneFeatures, store_root: Path) -> str:
    version = publish(store, trained(features, ("brick", "grass")), store_root.parent / "v1")
    store.promote("classifier", version)
    return version


def flags(store_root: Path, model_dir: str) -> list[str]:
    return ["--port", "0", "--metrics-port", "0", "--model-store", str(store_root), "--model-dir", model_dir,
            "--model-cache-dir", str(store_root.parent / "cache"), "--model-poll-s", "0.2"]  # fmt: skip


@pytest.fixture(scope="module")
def classifier(store_root: Path, model_dir: str, first: str) -> Iterator[ServiceHandle]:
    handle = start(build_parser().parse_args(flags(store_root, model_dir)))
    yield handle
    handle.stop(0)


def frame_of(label: str) -> bytes:
    crop = held_out_crops(per_label=1, seed=11)[label][0]
    return encode_jpeg(cv2.resize(crop, (640, 480)), 85)


def test_a_frame_comes_back_as_one_labelled_box_with_the_version(
    classifier: ServiceHandle, first: str
) -> None:
    reply = detect(classifier.port, frame_of("grass"))
    [box] = reply.detections
    assert (box.label, box.engine) == ("grass", "classifier")
    assert (box.box.x, box.box.y, box.box.width, box.box.height) == (0, 0, 640, 480)
    assert box.attributes["class"] == "grass" and box.attributes["model_version"] == first
    assert reply.engines[0].model_version == first
    samples = scrape(classifier.metrics_port)
    assert metric_sum(samples, "liquidedge_model_info", engine="classifier", version=first) == 1


def test_the_aggregator_runs_it_as_its_classifier_engine(classifier: ServiceHandle, first: str) -> None:
    aggregator = start_aggregator("", "", "--classifier-addr", f"127.0.0.1:{classifier.port}")
    try:
        wait_for(lambda: health_status(aggregator.port) == SERVING, 15, what="the aggregator")
        reply = detect(aggregator.port, frame_of("brick"), engines=["classifier"])
    finally:
        aggregator.stop(0)
    assert [(d.label, d.engine) for d in reply.detections] == [("brick", "classifier")]
    [status] = reply.engines
    assert (status.engine, status.ok, status.model_version) == ("classifier", True, first)


def test_a_broken_version_is_refused_then_a_good_one_replaces_the_serving_one(
    classifier: ServiceHandle, store: ModelStore, features: BackboneFeatures, store_root: Path, first: str
) -> None:
    three = trained(features, ("brick", "grass", "gravel"))
    broken_dir = store_root.parent / "broken"
    three.save(broken_dir)
    with np.load(broken_dir / HEAD_FILE) as arrays:
        parts = dict(arrays)
    parts["weights"] = parts["weights"][:, :-7]  # a head for features of another size
    np.savez(broken_dir / HEAD_FILE, **parts)
    broken = store.publish_dir("classifier", broken_dir, engine=ENGINE, format=FORMAT).version
    store.promote("classifier", broken)
    wait_for(
        lambda: metric_sum(scrape(classifier.metrics_port), "liquidedge_model_swaps_total",
                           engine="classifier", outcome="refused") == 1,
        30, what="the broken version refused",
    )  # fmt: skip
    assert health_status(classifier.port) == SERVING
    assert detect(classifier.port, frame_of("gravel")).engines[0].model_version == first

    second = publish(store, three, store_root.parent / "v2")
    store.promote("classifier", second)
    wait_for(
        lambda: detect(classifier.port, frame_of("gravel")).engines[0].model_version == second,
        30,
        what="answers from the three-label version",
    )
    assert detect(classifier.port, frame_of("gravel")).detections[0].label == "gravel"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model-store", ""], "--model-store is required"),  # its model only comes from a store
        (["--model-dir", "/nonexistent"], "backbone file missing: /nonexistent/yolov3-tiny.cfg"),
        (["--instances", "0"], "--instances must be at least 1"),
    ],
)
def test_bad_flags_stop_it_before_it_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], model_dir: str
) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        check_args(parser, parser.parse_args(["--model-dir", model_dir, *argv]))
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def crops(store_root: Path, model_dir: str, first: str) -> Iterator[ServiceHandle]:
    handle = start(build_parser().parse_args([*flags(store_root, model_dir), "--mode", "crops"]))
    yield handle
    handle.stop(0)


def test_in_crops_mode_it_labels_the_boxes_the_aggregator_sends(
    crops: ServiceHandle, yolo_service: ServiceHandle, frames: dict[str, SampleFrame]
) -> None:
    """YOLO finds the cameraman's two people; the classifier labels the crops of the chosen class."""
    aggregator = start_aggregator(
        "",
        f"127.0.0.1:{yolo_service.port}",
        "--classifier-crops-addr",
        f"127.0.0.1:{crops.port}",
        "--classifier-crop-labels",
        "person",
    )
    try:
        wait_for(lambda: health_status(aggregator.port) == SERVING, 15, what="the aggregator")
        jpeg = frames["camera"].jpeg
        refined = detect(aggregator.port, jpeg, engines=["classifier-crops"])  # brings YOLO with it
        plain = detect(aggregator.port, jpeg, engines=["yolo"])  # the refiner off
    finally:
        aggregator.stop(0)
    statuses = {s.engine: s for s in refined.engines}
    assert set(statuses) == {"yolo", "classifier-crops"} and statuses["classifier-crops"].ok
    version = statuses["classifier-crops"].model_version
    people = [d for d in refined.detections if d.label == "person"]
    assert len(people) >= 2 and all(d.engine == "yolo" for d in people)
    for box in people:
        assert box.attributes["class"] in {"brick", "grass", "gravel"}
        assert box.attributes["model_version"] == version
        assert 0 < box.attributes["class_confidence"] <= 1
    assert all("class" not in d.attributes for d in plain.detections)


def test_the_crop_labels_flag_chooses_what_the_aggregator_sends() -> None:
    from objectdetection.service import build_parser as aggregator_parser
    from objectdetection.service import refinements

    flags = ["--classifier-crops-addr", "localhost:50059"]
    assert refinements(aggregator_parser().parse_args(flags))["classifier-crops"].labels == ("bottle", "cup")
    chosen = aggregator_parser().parse_args([*flags, "--classifier-crop-labels", " bottle, wine glass ,"])
    assert refinements(chosen)["classifier-crops"].labels == ("bottle", "wine glass")
    assert (
        refinements(aggregator_parser().parse_args([*flags, "--classifier-crop-labels", ""]))[
            "classifier-crops"
        ].labels
        == ()
    )  # every YOLO box
