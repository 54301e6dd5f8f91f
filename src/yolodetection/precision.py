"""Which numeric precision the OpenVINO backend runs at, decided from what the CPU can do.

Measured on the build machine (YOLOv3-tiny, 2 cores): BF16 costs about half the CPU of FP32
per frame with raw outputs within 1e-2; INT8 needs a quantised model version, made and
checked against FP32 by `make int8`. The choice is explained in one sentence (`reason`), so
the log line and the metric say why a box runs FP32 (no BF16 in this CPU, say).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

PRECISIONS = ("auto", "int8", "bf16", "fp32")
# The order `auto` tries (measured: docs/cpu.md). BF16 agrees with FP32 box for box and costs
# within about 10% of INT8's CPU where the CPU has it; INT8 is the gain where it has not (VNNI
# without BF16: 48 against 64 ms of CPU per frame for FP32).
AUTO_ORDER = ("bf16", "int8", "fp32")

# Returns OpenVINO's OPTIMIZATION_CAPABILITIES of the CPU, e.g. ["FP32", "BF16", "INT8", ...].
CapabilityProbe = Callable[[], Collection[str]]


def openvino_cpu_capabilities() -> tuple[str, ...]:
    import openvino as ov

    return tuple(str(c).upper() for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str
    reason: str
    # True when the CPU or the model store could not give what was asked for or preferred.
    fell_back: bool = False


def choose_precision(
    requested: str, capabilities: Collection[str], *, int8_available: bool
) -> PrecisionChoice:
    """`requested` is auto or one precision; asking for one the CPU lacks falls back to FP32."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {requested!r}")
    caps = {c.upper() for c in capabilities}
    unmet: list[str] = []

    def usable(precision: str) -> bool:
        if precision == "fp32":
            return True
        if precision.upper() not in caps:
            unmet.append(f"the CPU has no {precision.upper()}")
            return False
        if precision == "int8" and not int8_available:
            unmet.append("no quantised INT8 version (make int8)")
            return False
        return True

    if requested != "auto":
        if usable(requested):
            return PrecisionChoice(requested, f"{requested.upper()} as requested")
        return PrecisionChoice("fp32", f"{requested.upper()} requested but {unmet[-1]}: FP32", True)
    for precision in AUTO_ORDER:
        if usable(precision):
            because = "; ".join(unmet)
            reason = f"{precision.upper()}, the best this CPU and model store allow"
            return PrecisionChoice(
                precision, f"{reason} ({because})" if because else reason, bool(unmet) and precision == "fp32"
            )
    raise AssertionError("fp32 is always usable")
