"""Fixtures for the fault-injection suite: a mesh of real processes, on loopback or on a switch.

`topology` runs every mesh case twice: on loopback (always possible, so the behaviour is tested
everywhere) and with each service in its own network namespace joined by veth links to one
bridge (skipped, with the reason, where this machine may not create namespaces). Every
namespace is deleted in teardown, pass or fail; ones left by a killed run are removed first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.fault_mesh import AGGREGATOR_ARGS, FaultMesh, MeshFactory, loopback_placements, switch_placements
from faults.fault_netns import Switch, netns_unavailable_reason, remove_stale_namespaces
from faults.fault_report import FIGURES


@pytest.fixture(scope="session")
def netns_reason() -> str | None:
    """Why namespaces cannot be used here (None when they can); checked once per run."""
    reason = netns_unavailable_reason()
    if reason is None:
        remove_stale_namespaces()
    return reason


@pytest.fixture(params=["loopback", pytest.param("netns", marks=pytest.mark.netns)])
def topology(request: pytest.FixtureRequest, netns_reason: str | None) -> str:
    if request.param == "netns" and netns_reason is not None:
        pytest.skip(f"netns topology skipped: {netns_reason} (the loopback variant still runs)")
    return str(request.param)


@pytest.fixture
def switch(topology: str) -> Iterator[Switch | None]:
    """The test's own bridge and namespaces (None on loopback); deleted in teardown, pass or fail."""
    if topology != "netns":
        yield None
        return
    with Switch() as created:
        yield created


@pytest.fixture
def mesh_factory(switch: Switch | None, model_dir: str, tmp_path: Path) -> Iterator[MeshFactory]:
    """Builds and starts the mesh for this topology; stops every process before the switch goes."""
    made: list[FaultMesh] = []

    def make(*extra_args: str) -> FaultMesh:
        placements = switch_placements(switch) if switch is not None else loopback_placements()
        mesh = FaultMesh(model_dir, placements, tmp_path, aggregator_args=(*AGGREGATOR_ARGS, *extra_args))
        made.append(mesh)
        return mesh.start()

    yield make
    for mesh in made:
        mesh.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fault injection: what the robot saw")
        for line in FIGURES:
            terminalreporter.write_line(line)
