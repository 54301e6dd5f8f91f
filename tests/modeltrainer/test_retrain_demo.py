"""`make retrain-demo`, lean: upload -> train -> publish -> the running mesh reloads -> new labels.

Every part is a real process on loopback (the ingest over HTTP, the trainer on its trigger
queue, the classification service and the aggregator over gRPC), as on a fresh clone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from meshtools.retrain_demo import FIRST_LABELS, NEW_LABEL, main
from modelstore import open_store


def test_the_same_request_answers_with_the_label_the_retrained_version_learnt(
    model_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], keep_root_logging: None
) -> None:
    work = tmp_path / "demo"
    assert main(["--model-dir", model_dir, "--work-dir", str(work), "--per-label", "20"]) == 0
    out = capsys.readouterr().out
    store = open_store(str(work / "store"))
    first, second = (v.version for v in store.versions("classifier"))
    assert store.channel("classifier", "production").version == second
    assert store.get("classifier", second).manifest.meta["labels"] == [*FIRST_LABELS, NEW_LABEL]
    answers = re.findall(r'"(\w+)" \([\d.]+\) from (\S+)', out)
    assert len(answers) == 2 and answers[0][0] in FIRST_LABELS  # the first version cannot say gravel
    assert answers == [(answers[0][0], first), (NEW_LABEL, second)]
    for version in (first, second):  # each version's held-out accuracy, as its manifest has it
        accuracy = store.get("classifier", version).manifest.metrics["heldout_accuracy"]
        assert f"held-out accuracy of {version}: {accuracy:.3f}" in out
    assert len(store.versions("edge1", kind="dataset")) == 2  # both uploads are dataset versions
    assert len(re.findall(r" s  ", out)) == 9  # every step timed
