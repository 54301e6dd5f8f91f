"""The YOLO service serving its model from a store channel, replacing it while frames run.

A real YOLO server (OpenVINO, the default backend here) on a loopback port follows the
`production` channel of a local-directory store holding the embedded model, a retrained one
(`meshtools.swap_versions`) and three broken ones. Frames keep coming from client threads
while versions are promoted; every answer says which version made it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from liquidedge.service import ServiceHandle
from meshtools.samples import SampleFrame
from meshtools.swap_versions import MODEL, SwapVersions, publish_swap_versions
from modelstore import ModelStore, open_store
from support.calls import SERVING, detect, health_status, metric_sum, scrape, service_status
from support.frames import Frames
from support.services import start_yolo
from support.waiting import wait_for
from yolodetection.model_version import ModelVersion


@pytest.fixture(scope="module")
def jpeg(frames: dict[str, SampleFrame]) -> bytes:
    """The cameraman: two people YOLOv3-tiny finds."""
    return frames["camera"].jpeg


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("yolo-store") / "store"


@pytest.fixture(scope="module")
def store(store_root: Path) -> ModelStore:
    return open_store(str(store_root))


@pytest.fixture(scope="module")
def versions(store: ModelStore, store_root: Path, model_dir: str) -> SwapVersions:
    return publish_swap_versions(store, store_root, Path(model_dir), store_root.parent / "scratch")


def store_flags(store_root: Path, converted: Path, *extra: str) -> list[str]:
    cache = store_root.parent / "cache"
    return ["--model-store", str(store_root), "--model-cache-dir", str(cache), "--model-poll-s", "0.2",
            "--converted-dir", str(converted), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def converted(store_root: Path, fp32_version: ModelVersion) -> Path:
    """The service's own converted cache, holding the session's conversion of the embedded model:
    a retrained version is reweighted from it rather than converted by torch."""
    cache = store_root.parent / "converted"
    shutil.copytree(fp32_version.path, cache / fp32_version.path.name)
    return cache


@pytest.fixture(scope="module")
def served(
    model_dir: str, store_root: Path, versions: SwapVersions, converted: Path
) -> Iterator[ServiceHandle]:
    handle = start_yolo(model_dir, *store_flags(store_root, converted))
    yield handle
    handle.stop(0)


def refused(handle: ServiceHandle) -> float:
    samples = scrape(handle.metrics_port)
    return metric_sum(samples, "liquidedge_model_swaps_total", engine="yolo", outcome="refused")


def served_version(handle: ServiceHandle, jpeg: bytes) -> str:
    return detect(handle.port, jpeg).engines[0].model_version


def test_answers_say_which_store_version_made_them(
    served: ServiceHandle, versions: SwapVersions, jpeg: bytes
) -> None:
    reply = detect(served.port, jpeg)
    assert reply.engines[0].model_version == versions.embedded
    assert "person" in {d.label for d in reply.detections}
    samples = scrape(served.metrics_port)
    assert metric_sum(samples, "liquidedge_model_info", engine="yolo", version=versions.embedded) == 1
    assert metric_sum(samples, "liquidedge_backend_info", engine="yolo") == 1
    status = service_status(served.metrics_port)
    assert status["service"] == "yolodetection"
    assert status["models"]["yolo"]["version"] == versions.embedded
    assert status["models"]["yolo"]["refused"] == {}
    assert status["backends"]["yolo"]["backend"] in {"openvino", "opencv", "onnxruntime", "torch"}


def test_a_promoted_version_replaces_the_serving_one_while_frames_run(
    served: ServiceHandle,
    store: ModelStore,
    versions: SwapVersions,
    jpeg: bytes,
    store_root: Path,
    converted: Path,
    fp32_version: ModelVersion,
) -> None:
    with Frames(served.port, jpeg) as frames:
        wait_for(lambda: len(frames.versions) >= 4, 30, what="frames before the promotion")
        store.promote(MODEL, versions.retrained)
        wait_for(
            lambda: all(seen[-2:] == [versions.retrained] * 2 for seen in frames.by_thread),
            60,
            what=f"answers from {versions.retrained} on every client",
        )
        during = health_status(served.port)
    assert frames.errors == []
    assert during == SERVING
    for seen in frames.by_thread:
        # One swap, as each client sees it: the old version up to some frame, the new one after it.
        first_new = seen.index(versions.retrained)
        assert set(seen[:first_new]) <= {versions.embedded} and set(seen[first_new:]) == {versions.retrained}
    assert versions.embedded in frames.versions
    samples = scrape(served.metrics_port)
    assert metric_sum(samples, "liquidedge_model_info", engine="yolo", version=versions.retrained) == 1
    assert metric_sum(samples, "liquidedge_model_info", engine="yolo", version=versions.embedded) == 0
    assert metric_sum(samples, "liquidedge_model_swaps_total", engine="yolo", outcome="accepted") == 2
    # The caches keep what serves: one fetched version, one conversion (the old ones would fill a pod's volume).
    cache = store_root.parent / "cache" / "models" / MODEL
    assert [p.name for p in cache.iterdir()] == [versions.retrained]
    [conversion] = [p for p in converted.iterdir() if not p.name.startswith(".")]
    assert conversion.name.endswith("-fp32") and conversion.name != fp32_version.path.name


# A word each refusal's reason must contain, so the status says *which* check failed.
WHY_REFUSED = {"bad-checksum": "sha-256", "truncated-weights": "weights", "wrong-class-count": "85"}


@pytest.mark.parametrize(
    "kind",
    [
        "bad-checksum",  # a byte flipped in the store: the fetch refuses it before any load
        "truncated-weights",  # checksums match, the weights do not fit the cfg: it does not load
        "wrong-class-count",  # it loads; the smoke frame's rows have 85 columns for 79 names
    ],
)
def test_a_broken_version_is_refused_and_the_serving_one_keeps_answering(
    kind: str, served: ServiceHandle, store: ModelStore, versions: SwapVersions, jpeg: bytes
) -> None:
    serving = served_version(served, jpeg)
    assert serving == versions.retrained  # the test above ran first
    before = refused(served)
    with Frames(served.port, jpeg) as frames:
        store.promote(MODEL, versions.broken[kind], note=kind)
        wait_for(lambda: refused(served) == before + 1, 60, what=f"the {kind} version refused")
        wait_for(lambda: len(frames.versions) >= 2, 30, what="frames after the refusal")
        assert health_status(served.port) == SERVING
    assert frames.errors == []
    assert set(frames.versions) == {serving}
    assert served_version(served, jpeg) == serving
    samples = scrape(served.metrics_port)
    assert metric_sum(samples, "liquidedge_model_info", engine="yolo", version=versions.broken[kind]) == 0
    # The operator's "why": /status names the serving version and the refused one with its reason.
    model = service_status(served.metrics_port)["models"]["yolo"]
    assert model["version"] == serving
    assert WHY_REFUSED[kind] in model["refused"][versions.broken[kind]].lower()


def test_an_operator_pin_serves_that_version_behind_the_batcher(
    model_dir: str,
    store: ModelStore,
    store_root: Path,
    versions: SwapVersions,
    tmp_path: Path,
    jpeg: bytes,
) -> None:
    """The pin wins over the channel; OpenCV DNN with batches of 4, so a batch leases one version."""
    store.promote(MODEL, versions.retrained, note="pin test")
    flags = store_flags(store_root, tmp_path / "converted", "--model-version", versions.embedded,
                        "--backend", "opencv", "--max-batch", "4")  # fmt: skip
    handle = start_yolo(model_dir, *flags)
    try:
        with Frames(handle.port, jpeg, threads=4) as frames:
            wait_for(lambda: len(frames.versions) >= 8, 60, what="batched frames")
        assert frames.errors == []
        assert set(frames.versions) == {versions.embedded}
    finally:
        handle.stop(0)


def test_without_a_store_the_answers_name_no_version(yolo_service: ServiceHandle, jpeg: bytes) -> None:
    assert detect(yolo_service.port, jpeg).engines[0].model_version == ""


def test_a_channel_with_nothing_servable_stops_the_start_with_the_reason(
    model_dir: str, tmp_path: Path
) -> None:
    store = open_store(str(tmp_path / "empty"))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.cfg").write_text("[net]\n")
    store.promote(MODEL, store.publish_dir(MODEL, tmp_path / "m", engine="yolo", format="darknet").version)
    with pytest.raises(
        RuntimeError, match=r"no servable yolov3-tiny model in channel production .*one \.weights"
    ):
        start_yolo(model_dir, *store_flags(tmp_path / "empty", tmp_path / "converted"))
