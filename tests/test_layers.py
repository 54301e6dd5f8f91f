"""The layer contracts of pyproject.toml, and proof that they bite.

`make lint` runs lint-imports on the real tree. Here the same contracts (read from the real
pyproject.toml, so removing or weakening them fails these tests) are run on a copy of src/
with one import added that the layers forbid, and must report it broken; an import the
layers allow must leave them kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
LINTER = PYPROJECT["tool"]["importlinter"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
RUNTIME, TOOLS = "liquidedge", "meshtools"
# Jobs run beside the mesh and import what they train for, as tools import what they drive.
JOBS = ("modeltrainer",)
SERVICES = (
    "facedetection",
    "yolodetection",
    "objectdetection",
    "classification",
    "facerecognition",
    "datasetingest",
    "cameragateway",
)
CLIENTS = ("robotclient",)
# Libraries under the services: the model store; the RoboMaster bridge imports nothing of ours.
LIBRARIES = ("modelstore",)
STANDALONE = ("robomaster_bridge",)


def layer_packages(layer: str) -> set[str]:
    return {name.strip() for name in layer.replace(":", "|").split("|")}


def src_packages() -> set[str]:
    return {path.parent.name for path in (REPO / "src").glob("*/__init__.py")}


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with the real contracts on the packages under `root`/src."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(REPO / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def src_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return root


def test_every_package_under_src_is_in_the_contracts() -> None:
    """A new service or tool must be placed in a layer, or nothing would check its imports."""
    (contract,) = [c for c in LINTER["contracts"] if c["id"] == "layers"]
    layered = set().union(*(layer_packages(layer) for layer in contract["layers"]))
    assert set(LINTER["root_packages"]) == src_packages() == layered


def test_the_layers_put_tools_over_services_and_clients_over_the_runtime() -> None:
    (contract,) = [c for c in LINTER["contracts"] if c["id"] == "layers"]
    assert contract["type"] == "layers"
    top, middle, libraries, bottom = contract["layers"]
    assert layer_packages(top) == {TOOLS, *JOBS}
    assert layer_packages(middle) == {*SERVICES, *CLIENTS}
    assert layer_packages(libraries) == set(LIBRARIES)
    assert layer_packages(bottom) == {RUNTIME, *STANDALONE}
    for layer in (top, middle, bottom):
        assert ":" not in layer, "packages of one layer must stay independent of each other (|)"


def test_the_tree_keeps_the_contracts() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "code", "kept"),
    [
        # The runtime reaching up, directly or lazily inside a function.
        (f"{RUNTIME}/_probe.py", "import facedetection.engine\n", False),
        (f"{RUNTIME}/_probe.py", "def late():\n    from objectdetection import fanout\n", False),
        (f"{RUNTIME}/_probe.py", "import robotclient.tracker\n", False),
        (f"{RUNTIME}/_probe.py", "from meshtools import samples\n", False),
        # A service using another service's code instead of its gRPC API, or a tool.
        ("facedetection/_probe.py", "import yolodetection.engine\n", False),
        ("objectdetection/_probe.py", "from meshtools.localmesh import LocalMesh\n", False),
        # The robot client importing a service or a tool.
        ("robotclient/_probe.py", "import objectdetection.replicas\n", False),
        ("robotclient/_probe.py", "import meshtools.bench\n", False),
        # The model store is a library: it must not reach into a service, and the runtime
        # must not depend on it (hot reload in the runtime takes a loader, not a store).
        ("modelstore/_probe.py", "import classification.engine\n", False),
        (f"{RUNTIME}/_probe.py", "import modelstore.store\n", False),
        # A service importing another service (the classifier is a service like the others).
        ("classification/_probe.py", "import yolodetection.engine\n", False),
        # Allowed: tools import what they drive; services and clients import the runtime.
        (f"{TOOLS}/_probe.py", "import facedetection.service\nimport robotclient.link\n", True),
        ("robotclient/_probe.py", "import liquidedge.detections\n", True),
        ("classification/_probe.py", "import modelstore.store\n", True),
    ],
)
def test_an_added_import_is_judged_by_the_layers(src_copy: Path, module: str, code: str, kept: bool) -> None:
    probe = src_copy / "src" / module
    probe.write_text(code)
    try:
        done = lint_imports(src_copy)
    finally:
        probe.unlink()
    assert done.returncode == (0 if kept else 1), done.stdout + done.stderr
    if not kept:
        assert "BROKEN" in done.stdout and module.removesuffix(".py").replace("/", ".") in done.stdout
