"""Soak and load tool: many robot streams against the mesh for a bounded time, measured.

`python -m meshtools.soak` (or `make soak`) starts the local mesh as real processes (or
targets a running one), drives it with N concurrent robots in lock-step, and reports
throughput, latency percentiles of admitted frames, refusals by status code and each
service's resident memory over time. Modules: `traffic` (the robots), `memory` (RSS
sampling), `runner` (phases, mesh), `report` (figures, table), `__main__` (CLI).
"""

from meshtools.soak.runner import SoakConfig, run_soak

__all__ = ["SoakConfig", "run_soak"]
