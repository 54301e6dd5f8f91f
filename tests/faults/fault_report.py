"""The figures each fault case measured, collected for the end of the test run.

Tests call `figure(...)`; the faults conftest prints every line in the terminal summary, so
`make test` output carries the numbers even when the tests pass and pytest captures output.
"""

from __future__ import annotations

FIGURES: list[str] = []


def figure(case: str, topology: str, text: str) -> str:
    """Record one line, e.g. `fault kill-replica [netns]: 40 frames, 0 lost, max gap 0.31 s`."""
    line = f"fault {case} [{topology}]: {text}"
    FIGURES.append(line)
    print(line)
    return line
