"""Fuzz-suite plumbing: hypothesis profiles, the shared tally, and the count printed at the end.

The tally is kept on `config.stash` so every fuzz test adds to one count without module-level
state, and `pytest_terminal_summary` prints it whether or not `-s` was given.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from fuzz_support import FuzzTally, fuzz_mode, register_profiles

from liquidedge.service import ServiceHandle
from support.calls import open_channel

TALLY = pytest.StashKey[FuzzTally]()
# Long mode runs ten times the examples; give each test room beyond the suite-wide timeout.
LONG_TIMEOUT_S = 3600

register_profiles()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[TALLY] = FuzzTally()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if fuzz_mode() != "long":
        return
    for item in items:
        if "fuzz" in item.path.parts:
            item.add_marker(pytest.mark.timeout(LONG_TIMEOUT_S))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    tally = config.stash.get(TALLY, None)
    if tally is None or tally.inputs == 0:
        return
    terminalreporter.write_sep("-", f"fuzz ({fuzz_mode()} profile)")
    terminalreporter.write_line(tally.summary())
    codes = ", ".join(f"{code} {n}" for code, n in sorted(tally.codes.items()))
    terminalreporter.write_line(f"fuzz: outcomes by code: {codes}")


@pytest.fixture(scope="session")
def tally(request: pytest.FixtureRequest) -> FuzzTally:
    return request.config.stash[TALLY]


@pytest.fixture(scope="session")
def service_ports(
    aggregator_service: ServiceHandle, face_service: ServiceHandle, yolo_service: ServiceHandle
) -> dict[str, int]:
    """The real in-process services of tests/conftest.py, by the name the fuzz tests use."""
    return {"aggregator": aggregator_service.port, "face": face_service.port, "yolo": yolo_service.port}


@pytest.fixture(scope="session")
def channels(service_ports: dict[str, int]) -> Iterator[dict[str, grpc.Channel]]:
    """One channel per service for the whole run, as a robot would keep."""
    opened = {name: open_channel(port) for name, port in service_ports.items()}
    yield opened
    for channel in opened.values():
        channel.close()
