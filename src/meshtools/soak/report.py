"""Turn the frame records and memory samples of a soak run into figures and a table.

Latency percentiles (`liquidedge.stats`) are over admitted frames only (answered OK, partial
answers included): a refused frame costs the robot one frame, not latency, and mixing the
fast refusals in would make an overloaded mesh look quicker. Refusals are counted by status code, with
RESOURCE_EXHAUSTED reported separately as "shed".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from liquidedge.lockstep import Outcome
from liquidedge.stats import tally
from meshtools.soak.memory import RssSample

SHED = "RESOURCE_EXHAUSTED"
WARMUP = -1


@dataclass(frozen=True)
class PhaseSpan:
    index: int
    streams: int
    started_s: float
    ended_s: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.ended_s - self.started_s)


def phase_figures(span: PhaseSpan, sent: int, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    counted = tally(outcomes)
    errors = dict(counted.failures_by_code)
    shed = errors.pop(SHED, 0)
    return {
        "phase": "warm-up" if span.index == WARMUP else span.index + 1,
        "streams": span.streams,
        "seconds": round(span.seconds, 2),
        "sent": sent,
        "answered": counted.answered,
        "shed": shed,
        "errors": errors,
        "failed": counted.failed,
        "in_flight_at_stop": sent - counted.sent,
        "partial_answers": counted.partial_answers,
        "partial_engines": counted.partial_engines,
        "throughput_fps": round(counted.answered / span.seconds, 2) if span.seconds else 0.0,
        "shed_fraction": round(shed / sent, 4) if sent else 0.0,
        "latency_ms": counted.rtt_ms(2, extremes=True),
    }


def memory_figures(
    series: Sequence[RssSample], warm_index: int, alive: bool | None, pid: int | None
) -> dict[str, Any]:
    """RSS after warm-up vs at the end; change in percent of the after-warm-up figure."""
    known = [(s.at_s, s.rss_kib) for s in series if s.rss_kib is not None]
    warm = next((s.rss_kib for s in series[warm_index:] if s.rss_kib is not None), None)
    end = known[-1][1] if known else None
    # A leak keeps climbing; a one-off step (a new thread's arena) does not. The second half of
    # the measured samples tells the two apart.
    measured = [v for _, v in known[warm_index:]] if warm_index < len(known) else []
    half = measured[len(measured) // 2] if measured else None
    mib = 1024.0
    return {
        "pid": pid,
        "alive_at_end": alive,
        "rss_start_mib": round(known[0][1] / mib, 1) if known else None,
        "rss_after_warmup_mib": round(warm / mib, 1) if warm else None,
        "rss_end_mib": round(end / mib, 1) if end else None,
        "rss_peak_mib": round(max(v for _, v in known) / mib, 1) if known else None,
        "rss_change_pct": round((end - warm) * 100.0 / warm, 2) if warm and end else None,
        "rss_change_last_half_pct": round((end - half) * 100.0 / half, 2) if half and end else None,
        "samples": [[round(at, 1), round(v / mib, 1)] for at, v in known],
    }


def summarise(
    spans: Sequence[PhaseSpan],
    sent_by_phase: Mapping[int, int],
    records: Sequence[tuple[int, Outcome]],
    memory: Mapping[str, dict[str, Any]],
    settings: Mapping[str, Any],
) -> dict[str, Any]:
    """`records` are (phase, outcome) pairs, the phase being the one a frame was sent in."""
    by_phase: dict[int, list[Outcome]] = {}
    for phase, outcome in records:
        by_phase.setdefault(phase, []).append(outcome)
    phases = [phase_figures(s, sent_by_phase.get(s.index, 0), by_phase.get(s.index, [])) for s in spans]
    measured = [p for p, s in zip(phases, spans, strict=True) if s.index != WARMUP]
    measured_outcomes = [outcome for phase, outcome in records if phase != WARMUP]
    total_span = PhaseSpan(
        0,
        max((s.streams for s in spans), default=0),
        min((s.started_s for s in spans if s.index != WARMUP), default=0.0),
        max((s.ended_s for s in spans), default=0.0),
    )
    total = phase_figures(total_span, sum(p["sent"] for p in measured), measured_outcomes)
    total["phase"] = "all"
    codes = Counter(outcome.code for _, outcome in records)
    return {
        "settings": dict(settings),
        "phases": phases,
        "total": total,
        "memory": dict(memory),
        "checks": {
            "balanced": all(
                p["sent"] == p["answered"] + p["failed"] + p["in_flight_at_stop"] for p in phases
            ),
            "unknown_or_internal": codes.get("UNKNOWN", 0) + codes.get("INTERNAL", 0),
            "processes_alive": all(m["alive_at_end"] is not False for m in memory.values()),
            "max_rss_change_pct": max(
                (m["rss_change_pct"] for m in memory.values() if m["rss_change_pct"] is not None),
                default=None,
            ),
        },
    }


def _fmt(value: object) -> str:
    return "-" if value is None else str(value)


def format_table(report: Mapping[str, Any]) -> str:
    """The human summary the CLI prints."""
    lines = [
        f"{'phase':>8} {'streams':>7} {'secs':>6} {'sent':>7} {'answered':>8} {'shed':>6} {'errors':>6} "
        f"{'fps':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    ]
    for row in [*report["phases"], report["total"]]:
        lat = row["latency_ms"]
        lines.append(
            f"{row['phase']!s:>8} {row['streams']:>7} {row['seconds']:>6} {row['sent']:>7} {row['answered']:>8} "
            f"{row['shed']:>6} {row['failed'] - row['shed']:>6} {row['throughput_fps']:>7} "
            f"{_fmt(lat['p50']):>8} {_fmt(lat['p95']):>8} {_fmt(lat['p99']):>8} {_fmt(lat['max']):>8}"
        )
    for row in [*report["phases"], report["total"]]:
        if row["errors"] or row["partial_engines"]:
            lines.append(
                f"phase {row['phase']}: errors {row['errors'] or '{}'}; partial answers "
                f"{row['partial_answers']} {row['partial_engines'] or ''}"
            )
    if report["memory"]:
        lines.append("")
        lines.append(
            f"{'service':>12} {'pid':>7} {'alive':>5} {'RSS start':>10} {'after warm-up':>13} "
            f"{'end':>8} {'peak':>8} {'change':>8} {'2nd half':>8}"
        )
        for name, mem in report["memory"].items():
            change, late = mem["rss_change_pct"], mem["rss_change_last_half_pct"]
            lines.append(
                f"{name:>12} {_fmt(mem['pid']):>7} {_fmt(mem['alive_at_end']):>5} "
                f"{_fmt(mem['rss_start_mib']):>10} {_fmt(mem['rss_after_warmup_mib']):>13} "
                f"{_fmt(mem['rss_end_mib']):>8} {_fmt(mem['rss_peak_mib']):>8} "
                f"{('-' if change is None else f'{change:+.1f}%'):>8} "
                f"{('-' if late is None else f'{late:+.1f}%'):>8}"
            )
        lines.append(
            "(RSS in MiB; change = end vs after warm-up; 2nd half = end vs the middle of the measured time)"
        )
    checks = report["checks"]
    lines.append("")
    lines.append(
        f"checks: totals balance {checks['balanced']}, UNKNOWN/INTERNAL {checks['unknown_or_internal']}, "
        f"processes alive {checks['processes_alive']}, max RSS change {_fmt(checks['max_rss_change_pct'])}%"
    )
    return "\n".join(lines)
