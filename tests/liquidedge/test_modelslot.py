"""ModelSlot: a new version swapped in while frames run; frames finish on the version they began with."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

import numpy as np
import pytest
from prometheus_client import generate_latest

from liquidedge.detections import Detections
from liquidedge.errors import EngineUnavailableError
from liquidedge.metrics import ServiceMetrics
from liquidedge.modelslot import ModelRefusedError, ModelSlot, SlotEngine
from support.waiting import wait_for


@dataclass
class Model:
    """A stand-in model that knows whether it was closed and how many frames run on it now."""

    version: str
    closed: bool = False
    running: int = 0
    ran_closed: list[str] = field(default_factory=list)

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        if self.closed:
            self.ran_closed.append(self.version)
        return [
            Detections(xyxy=[[0, 0, 4, 4]], confidence=[0.9], label=[self.version], engine=["toy"])
            for _ in images
        ]


def closing(model: Model) -> None:
    assert model.running == 0, f"{model.version} closed while {model.running} frames still ran on it"
    model.closed = True


def make_slot(**kwargs: object) -> ModelSlot[Model]:
    return ModelSlot("toy", close_model=closing, **kwargs)  # type: ignore[arg-type]


def test_a_frame_finishes_on_the_version_it_began_with_and_the_old_one_closes_after() -> None:
    slot = make_slot()
    v1, v2 = Model("v1"), Model("v2")
    assert slot.offer("v1", lambda: v1)
    with slot.lease() as first:
        first.model.running += 1
        assert slot.offer("v2", lambda: v2)
        assert slot.version == "v2"
        with slot.lease() as second:
            assert (second.model, second.version) == (v2, "v2")
        assert not v1.closed, "v1 closed while a frame still held it"
        first.model.running -= 1
    assert v1.closed and not v2.closed


def test_offering_the_serving_version_again_loads_nothing() -> None:
    slot = make_slot()
    slot.offer("v1", lambda: Model("v1"))

    def must_not_load() -> Model:
        raise AssertionError("loaded a version already serving")

    assert slot.offer("v1", must_not_load) is False


@pytest.mark.parametrize(
    ("failure", "smoke_fails"),
    [
        ("load", False),  # the files do not load (truncated weights, wrong format)
        ("smoke", True),  # it loads but a known frame through it fails (wrong class count)
    ],
)
def test_a_bad_version_is_refused_and_the_old_one_keeps_serving(failure: str, smoke_fails: bool) -> None:
    metrics = ServiceMetrics("toyservice")
    bad = Model("v2")

    def smoke(model: Model) -> None:
        if smoke_fails and model.version == "v2":
            raise ValueError("80 class scores per row, the names file has 79")

    def load_bad() -> Model:
        if failure == "load":
            raise OSError("weights truncated at 1,024 of 35,434,956 bytes")
        return bad

    slot = make_slot(smoke=smoke, metrics=metrics)
    slot.offer("v1", lambda: Model("v1"))
    with pytest.raises(ModelRefusedError, match="toy model v2 refused"):
        slot.offer("v2", load_bad)
    assert slot.version == "v1"
    with slot.lease() as lease:
        assert lease.version == "v1"
    assert "v2" in slot.refused
    assert bad.closed == smoke_fails  # a model that loaded but failed its smoke test is freed
    text = generate_latest(metrics.registry).decode()
    assert 'liquidedge_model_swaps_total{engine="toy",outcome="refused",service="toyservice"} 1.0' in text
    assert 'liquidedge_model_info{engine="toy",service="toyservice",version="v1"} 1.0' in text
    assert 'version="v2"' not in text.split("liquidedge_model_info")[-1].split("# HELP")[0]
    described = metrics.status()["models"]["toy"]  # what GET /status says
    assert described["version"] == "v1"
    assert list(described["refused"]) == ["v2"] and described["refused"]["v2"]


def test_the_metrics_name_only_the_version_serving_now() -> None:
    metrics = ServiceMetrics("toyservice")
    slot = make_slot(metrics=metrics)
    slot.offer("v1", lambda: Model("v1"))
    slot.offer("v2", lambda: Model("v2"))
    info = [
        line
        for line in generate_latest(metrics.registry).decode().splitlines()
        if line.startswith("liquidedge_model_info{")
    ]
    assert info == ['liquidedge_model_info{engine="toy",service="toyservice",version="v2"} 1.0']


def test_an_empty_slot_is_unavailable_until_a_version_loads() -> None:
    slot = make_slot()
    with pytest.raises(EngineUnavailableError, match="no toy model is loaded yet"), slot.lease():
        pass


def test_swaps_under_concurrent_frames_never_run_a_frame_on_a_closed_model() -> None:
    slot = make_slot()
    models = [Model(f"v{i}") for i in range(30)]
    slot.offer(models[0].version, lambda: models[0])
    stop = threading.Event()
    seen: list[str] = []
    lock = threading.Lock()

    def frames() -> None:
        rng = random.Random(threading.get_ident())
        while not stop.is_set():
            with slot.lease() as lease:
                with lock:
                    lease.model.running += 1
                lease.model.detect_batch([np.zeros((2, 2, 3), np.uint8)] * rng.randint(1, 3))
                with lock:
                    lease.model.running -= 1
                seen.append(lease.version)

    workers = [threading.Thread(target=frames) for _ in range(6)]
    for worker in workers:
        worker.start()
    for model in models:
        if model is not models[0]:
            slot.offer(model.version, lambda model=model: model)
        # Frames run on each version before the next swap: every swap happens under running frames.
        wait_for(lambda version=model.version: version in seen, 10, f"a frame on {model.version}")
    stop.set()
    for worker in workers:
        worker.join(10)
    assert all(model.closed for model in models[:-1]), "a retired version was never freed"
    assert not models[-1].closed
    assert [m.version for m in models if m.ran_closed] == []
    assert set(seen) == {model.version for model in models}


def test_slot_engine_answers_say_which_version_made_them_and_a_batch_runs_on_one() -> None:
    slot = make_slot()
    slot.offer("v1", lambda: Model("v1"))
    engine = SlotEngine("toy", slot)
    answers = engine.detect_batch([np.zeros((4, 4, 3), np.uint8)] * 3)
    assert [a.meta["model_version"] for a in answers] == ["v1"] * 3
    assert [str(a.label[0]) for a in answers] == ["v1"] * 3
    slot.offer("v2", lambda: Model("v2"))
    found = engine.detect(np.zeros((4, 4, 3), np.uint8))
    assert (found.meta["model_version"], str(found.label[0])) == ("v2", "v2")
    assert found.filtered(max_results=1).meta == {"model_version": "v2"}  # filtering keeps it
    engine.close()
    with pytest.raises(EngineUnavailableError):
        engine.detect(np.zeros((4, 4, 3), np.uint8))
