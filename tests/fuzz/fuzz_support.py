"""What every fuzz test shares: the hypothesis profile, the tally of inputs, the verdict on a call.

The profile is chosen once per run from LIQUIDEDGE_FUZZ (`ci`, the default, or `long` for ten
times as many examples), so the same tests serve a two-minute CI run and an overnight one.
The tally lives on the pytest config (no module state) and is printed in the terminal summary:
"fuzz: N inputs tried, 0 crashes, 0 UNKNOWN, 0 hangs".
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

REPO = Path(__file__).resolve().parents[2]
MODE_ENV = "LIQUIDEDGE_FUZZ"
MULTIPLIER = {"ci": 1, "long": 10}
# Generous: a healthy service answers any of these inputs in well under a second on 2 cores.
CALL_TIMEOUT_S = 20.0
# Our answer (liquidedge.wire, INVALID_ARGUMENT) when the request body is not a parsable protobuf.
UNPARSABLE_DETAILS = "is not a valid protobuf message"


def fuzz_mode() -> str:
    mode = os.environ.get(MODE_ENV, "ci").strip().lower() or "ci"
    if mode not in MULTIPLIER:
        raise ValueError(f"{MODE_ENV}={mode!r}: expected one of {sorted(MULTIPLIER)}")
    return mode


def register_profiles() -> None:
    """Both profiles; failing examples are kept in the git-ignored .hypothesis/ to replay first."""
    common = {
        "deadline": None,  # inputs reach real models over gRPC; time is not the property
        "database": DirectoryBasedExampleDatabase(str(REPO / ".hypothesis" / "fuzz")),
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
        "print_blob": True,
    }
    for mode in MULTIPLIER:
        settings.register_profile(f"liquidedge-fuzz-{mode}", **common)


def fuzz_settings(ci_examples: int) -> settings:
    """Settings for one property: `ci_examples` in CI, scaled up in the long mode."""
    mode = fuzz_mode()
    return settings(
        settings.get_profile(f"liquidedge-fuzz-{mode}"), max_examples=ci_examples * MULTIPLIER[mode]
    )


@dataclass
class Outcome:
    """How one call ended, as the client saw it."""

    code: grpc.StatusCode
    details: str = ""
    reply: object = None


@dataclass
class FuzzTally:
    """Counts over the whole run; a problem is a crash, an UNKNOWN or a hang (see `judge`)."""

    inputs: int = 0
    crashes: int = 0
    unknown: int = 0
    hangs: int = 0
    codes: Counter[str] = field(default_factory=Counter)

    def add(self, code: str, problem: str | None = None) -> None:
        self.inputs += 1
        self.codes[code] += 1
        if problem == "crash":
            self.crashes += 1
        elif problem == "unknown":
            self.unknown += 1
        elif problem == "hang":
            self.hangs += 1

    def summary(self) -> str:
        return (
            f"fuzz: {self.inputs} inputs tried, {self.crashes} crashes, {self.unknown} UNKNOWN, "
            f"{self.hangs} hangs"
        )


def call(method: Callable[..., object], request: object, timeout_s: float = CALL_TIMEOUT_S) -> Outcome:
    """One unary call; the status code instead of an exception."""
    try:
        reply = method(request, timeout=timeout_s)
    except grpc.RpcError as error:
        return Outcome(error.code(), error.details() or "")
    return Outcome(grpc.StatusCode.OK, reply=reply)


def call_stream(method: Callable[..., object], requests: list, timeout_s: float = CALL_TIMEOUT_S) -> Outcome:
    """One bidirectional stream fed `requests`; the replies collected, then how it ended."""
    replies: list[object] = []
    try:
        for reply in method(iter(requests), timeout=timeout_s):
            replies.append(reply)
    except grpc.RpcError as error:
        return Outcome(error.code(), error.details() or "", replies)
    return Outcome(grpc.StatusCode.OK, reply=replies)


def judge(outcome: Outcome, allowed: Collection[grpc.StatusCode], *, deadline_set: bool) -> str | None:
    """None when the outcome is documented behaviour, else the kind of problem.

    DEADLINE_EXCEEDED is documented only for a request that set its own per-frame budget;
    without one it means the call hit the client's generous timeout, i.e. the server hung.
    """
    code = outcome.code
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and not deadline_set:
        return "hang"
    if code == grpc.StatusCode.UNKNOWN:
        return "unknown"
    if code not in allowed and not (code == grpc.StatusCode.DEADLINE_EXCEEDED and deadline_set):
        return "crash"
    return None
