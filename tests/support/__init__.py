"""Helpers shared by every test folder, in one place:

- `services`: start the real services in-process on loopback port 0;
- `calls`: one call to a running service (v1 Detect, health, a metrics scrape);
- `waiting`: wait for a condition, failing with what was awaited and the last value seen;
- `ports`: free, taken and listening loopback ports;
- `programs`: where each service program's importable parts live.

A package, not conftest.py: test folders with their own conftest.py cannot share helpers
through `from conftest import ...`.
"""
