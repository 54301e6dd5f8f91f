"""The face service serving its Haar cascade from a store channel, replaced while frames run.

A real face server on loopback follows the `face-cascade` channel of a local-directory store:
OpenCV's frontal default first, then `alt2` promoted while two clients keep sending the
astronaut, then a corrupt cascade and a version made for another engine, both refused.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from facedetection.cascade_store import CASCADE_FILE, DEFAULT_MODEL_NAME, STORE_FORMAT
from liquidedge.service import ServiceHandle
from modelstore import ModelStore, open_store
from support.calls import SERVING, detect, health_status, metric_sum, scrape, service_status
from support.frames import Frames
from support.services import start_face
from support.waiting import wait_for


def cascade_dir(tmp: Path, name: str, content: bytes | None = None) -> Path:
    folder = tmp / name
    folder.mkdir()
    if content is None:
        shutil.copy(Path(cv2.data.haarcascades) / f"haarcascade_{name}.xml", folder / CASCADE_FILE)
    else:
        (folder / CASCADE_FILE).write_bytes(content)
    return folder


def publish(store: ModelStore, folder: Path, engine: str = "face") -> str:
    return store.publish_dir(DEFAULT_MODEL_NAME, folder, engine=engine, format=STORE_FORMAT).version


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("face-store") / "store"


@pytest.fixture(scope="module")
def store(store_root: Path) -> ModelStore:
    return open_store(str(store_root))


@pytest.fixture(scope="module")
def first_version(store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> str:
    version = publish(store, cascade_dir(tmp_path_factory.mktemp("cascades"), "frontalface_default"))
    store.promote(DEFAULT_MODEL_NAME, version)
    return version


@pytest.fixture(scope="module")
def served(store_root: Path, first_version: str) -> Iterator[ServiceHandle]:
    cache = store_root.parent / "cache"
    handle = start_face(
        "--model-store", str(store_root), "--model-cache-dir", str(cache), "--model-poll-s", "0.2"
    )
    yield handle
    handle.stop(0)


def refusals(handle: ServiceHandle) -> float:
    return metric_sum(
        scrape(handle.metrics_port), "liquidedge_model_swaps_total", engine="face", outcome="refused"
    )


def test_answers_say_which_cascade_found_the_face(
    served: ServiceHandle, first_version: str, astronaut_jpeg: bytes
) -> None:
    reply = detect(served.port, astronaut_jpeg)
    assert [d.label for d in reply.detections] == ["face"]
    assert reply.engines[0].model_version == first_version
    assert service_status(served.metrics_port)["models"]["face"]["version"] == first_version


def test_a_promoted_cascade_replaces_the_serving_one_while_frames_run(
    served: ServiceHandle, store: ModelStore, first_version: str, astronaut_jpeg: bytes, tmp_path: Path
) -> None:
    alt2 = publish(store, cascade_dir(tmp_path, "frontalface_alt2"))
    with Frames(served.port, astronaut_jpeg) as frames:
        wait_for(lambda: len(frames.versions) >= 4, 30, what="frames before the promotion")
        store.promote(DEFAULT_MODEL_NAME, alt2)
        wait_for(
            lambda: all(seen[-2:] == [alt2] * 2 for seen in frames.by_thread),
            30,
            what=f"answers from {alt2} on every client",
        )
        assert health_status(served.port) == SERVING
    assert frames.errors == []
    assert first_version in frames.versions
    for seen in frames.by_thread:  # one swap as each client sees it
        first_new = seen.index(alt2)
        assert set(seen[:first_new]) <= {first_version} and set(seen[first_new:]) == {alt2}
    reply = detect(served.port, astronaut_jpeg)
    assert [d.label for d in reply.detections] == ["face"]  # alt2 finds her too


@pytest.mark.parametrize(
    ("kind", "content", "engine", "why"),
    [
        (
            "corrupt",
            b"<?xml version='1.0'?><opencv_storage><cascade>broken",
            "face",
            "could not load haar cascade",
        ),
        ("other-engine", None, "yolo", "not for the 'face' engine"),
    ],
)
def test_a_broken_cascade_is_refused_and_the_serving_one_keeps_answering(
    kind: str,
    content: bytes | None,
    engine: str,
    why: str,
    served: ServiceHandle,
    store: ModelStore,
    astronaut_jpeg: bytes,
    tmp_path: Path,
) -> None:
    serving = detect(served.port, astronaut_jpeg).engines[0].model_version
    before = refusals(served)
    folder = cascade_dir(tmp_path, "frontalface_alt" if content is None else kind, content)
    broken = publish(store, folder, engine=engine)
    with Frames(served.port, astronaut_jpeg) as frames:
        store.promote(DEFAULT_MODEL_NAME, broken, note=kind)
        wait_for(lambda: refusals(served) == before + 1, 30, what=f"the {kind} cascade refused")
        wait_for(lambda: len(frames.versions) >= 2, 30, what="frames after the refusal")
        assert health_status(served.port) == SERVING
    assert frames.errors == []
    assert set(frames.versions) == {serving}
    model = service_status(served.metrics_port)["models"]["face"]
    assert model["version"] == serving
    assert why in model["refused"][broken].lower()
