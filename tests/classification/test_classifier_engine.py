"""The classification engine on real image crops: whole frames and chosen detections."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from classifierkit import trained_model

from classification.engine import BackboneMismatch, ClassificationEngine
from classification.features import BackboneFeatures
from classification.model import HEAD_FILE, ClassifierModel
from liquidedge.detections import Detections
from modelstore import fetch_verified, open_store
from modeltrainer.sample_dataset import LABELS, held_out_crops, texture_bgr


@pytest.fixture(scope="module")
def model(features: BackboneFeatures) -> ClassifierModel:
    """A head trained on crops from the top 70% of each texture photograph."""
    return trained_model(features, LABELS, per_label=15)


@pytest.fixture(scope="module")
def engine(model: ClassifierModel, features: BackboneFeatures) -> ClassificationEngine:
    return ClassificationEngine(model, features, version="v-test", crop_labels={"bottle"})


def test_unseen_parts_of_the_textures_are_classified(engine: ClassificationEngine) -> None:
    """Crops from the bottom 30% of each photograph, which no training crop overlaps."""
    crops = held_out_crops(per_label=8)
    images = [image for label in LABELS for image in crops[label]]
    truth = [label for label in LABELS for _ in crops[label]]
    labels, confidence = engine.classify(images)
    accuracy = float(np.mean(labels == np.asarray(truth, object)))
    assert accuracy >= 0.9, list(zip(truth, labels, strict=True))
    assert ((confidence > 0) & (confidence <= 1)).all()


def test_a_whole_frame_is_one_labelled_box(engine: ClassificationEngine) -> None:
    # a camera close to the ground: an unseen patch of gravel fills the frame
    gravel = texture_bgr("gravel")[400:520, 200:360]
    frame = cv2.resize(gravel, (640, 480))
    found = engine.detect(frame)
    assert len(found) == 1
    assert found.xyxy.tolist() == [[0, 0, 640, 480]]
    assert (found.label[0], found.engine[0]) == ("gravel", "classifier")
    assert found.attributes(0) == {
        "class": "gravel",
        "class_confidence": pytest.approx(float(found.confidence[0])),
        "model_version": "v-test",
    }


def test_chosen_detections_get_the_class_of_their_crop(engine: ClassificationEngine) -> None:
    crops = held_out_crops(per_label=1, seed=7)
    frame = np.full((480, 640, 3), 127, np.uint8)
    boxes = [(40, 40, "grass"), (300, 200, "brick"), (500, 300, "gravel")]
    for x, y, label in boxes:
        frame[y : y + 100, x : x + 100] = cv2.resize(crops[label][0], (100, 100))
    found = Detections(
        xyxy=[[40, 40, 140, 140], [300, 200, 400, 300], [500, 300, 600, 400], [10, 400, 18, 408]],
        confidence=[0.9, 0.8, 0.7, 0.6],
        label=["bottle", "bottle", "person", "bottle"],
        engine=["yolo"] * 4,
    ).with_data(track_id=[1, 2, 3, 4])
    classified = engine.classify_detections(frame, found)
    assert classified.data["class"].tolist() == [
        "grass",
        "brick",
        None,
        None,
    ]  # person not chosen; 8 px too small
    assert classified.data["model_version"].tolist() == ["v-test", "v-test", None, None]
    assert np.isnan(classified.data["class_confidence"][2:]).all()
    assert classified.attributes(2) == {"track_id": 3}
    assert classified.label.tolist() == found.label.tolist()  # the detector's labels are kept


def test_a_published_version_loads_through_the_store(
    tmp_path: Path, model: ClassifierModel, model_dir: str
) -> None:
    store = open_store(str(tmp_path / "store"))
    files = model.save(tmp_path / "out")
    stored = store.publish("classifier", files, engine="classifier", format="yolo-features-linear-v1")
    local = fetch_verified(
        store, "classifier", stored.version, tmp_path / "cache", expect_engine="classifier"
    )
    loaded = ClassificationEngine.from_files(
        local.path,
        Path(model_dir) / "yolov3-tiny.cfg",
        Path(model_dir) / "yolov3-tiny.weights",
        version=stored.version,
    )
    assert loaded.labels == LABELS and loaded.version == stored.version
    grass = held_out_crops(per_label=2, seed=3)["grass"]
    assert loaded.classify(grass)[0].tolist() == ["grass", "grass"]


def test_a_head_for_another_backbone_layer_is_refused(model: ClassifierModel, model_dir: str) -> None:
    other = BackboneFeatures(
        Path(model_dir) / "yolov3-tiny.cfg", Path(model_dir) / "yolov3-tiny.weights", layer="leaky_9"
    )
    with pytest.raises(BackboneMismatch, match=r"trained on layer leaky_11 at 160px .* given layer leaky_9"):
        ClassificationEngine(model, other, version="v1")


def test_a_malformed_head_file_is_a_clear_error(tmp_path: Path, model: ClassifierModel) -> None:
    model.save(tmp_path)
    with np.load(tmp_path / HEAD_FILE) as arrays:
        parts = dict(arrays)
    parts["bias"] = parts["bias"][:2]  # one class short
    np.savez(tmp_path / HEAD_FILE, **parts)
    with pytest.raises(
        ValueError, match=r"head.npz is not a classifier head: head bias must have shape \(3,\)"
    ):
        ClassifierModel.load(tmp_path)
