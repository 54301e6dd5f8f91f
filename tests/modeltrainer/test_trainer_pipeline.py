"""The trainer end to end on real images: publish when as good, refuse when worse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trainerkit import ingest_sample

from classification.features import BackboneFeatures
from classification.model import FORMAT, ClassifierModel
from modelstore import fetch_verified, open_store
from modeltrainer.pipeline import Trainer, TrainSettings
from modeltrainer.service import EXIT_REFUSED, main


def test_publish_then_refuse_a_worse_head_then_publish_an_equal_one(
    tmp_path: Path,
    features: BackboneFeatures,
    model_dir: str,
    capsys: pytest.CaptureFixture[str],
    keep_root_logging: None,
) -> None:
    store = open_store(str(tmp_path / "store"))
    dataset_version = ingest_sample(store, tmp_path, per_label=20)
    trainer = Trainer(store, features, tmp_path / "cache", TrainSettings())

    first = trainer.train("edge1")
    # three labels: chance is 1/3; frozen YOLO features separate these textures almost perfectly
    assert first.accuracy >= 0.9, first.to_dict()
    assert (first.train_images, first.held_out_images) == (45, 15)
    assert first.published is not None and first.baseline_version is None
    manifest = first.published.manifest
    assert (manifest.engine, manifest.format, manifest.parent) == ("classifier", FORMAT, None)
    assert manifest.metrics["heldout_accuracy"] == pytest.approx(first.accuracy)
    assert manifest.meta["labels"] == ["brick", "grass", "gravel"]
    assert manifest.meta["dataset_version"] == dataset_version
    assert len(manifest.meta["heldout_files"]) == 15
    assert store.channel("classifier", "production").version == first.published.version
    local = fetch_verified(
        store, "classifier", first.published.version, tmp_path / "cache", expect_engine="classifier"
    )
    assert ClassifierModel.load(local.path).backbone == features.spec

    # An untrained head (zero solver iterations) through the CLI: measured on the same held-out
    # images as the serving version, it is worse, so nothing is published and the channel stays.
    code = main(
        [
            "--store", str(tmp_path / "store"),
            "--cache-dir", str(tmp_path / "cache"),
            "--model-dir", model_dir,
            "--dataset", "edge1",
            "--max-iterations", "0",
            "--log-format", "text",
        ]
    )  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert code == EXIT_REFUSED
    assert printed["published"] is None and printed["baseline_version"] == first.published.version
    assert printed["baseline_accuracy"] == pytest.approx(first.accuracy, abs=1e-4)
    assert printed["heldout_accuracy"] < printed["baseline_accuracy"]
    assert printed["reason"].startswith("refused: held-out accuracy")
    assert [v.version for v in store.versions("classifier")] == [first.published.version]
    assert store.channel("classifier", "production").version == first.published.version

    # Retrained as well as before: as accurate on the same held-out images, so it replaces it.
    again = trainer.train("edge1", dataset_version)
    assert again.published is not None and again.baseline_accuracy == pytest.approx(first.accuracy)
    assert again.published.manifest.parent == first.published.version
    state = store.channel("classifier", "production")
    assert (state.version, state.previous) == (again.published.version, (first.published.version,))


def test_a_missing_dataset_is_a_clear_error(tmp_path: Path, features: BackboneFeatures) -> None:
    trainer = Trainer(open_store(str(tmp_path / "store")), features, tmp_path / "cache", TrainSettings())
    with pytest.raises(LookupError, match="dataset edge9 has no published version"):
        trainer.train("edge9")
