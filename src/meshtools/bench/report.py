"""The table, the ratios against same-run baselines, and the JSON file."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshtools.bench.load import CaseResult


@dataclass(frozen=True)
class Ratio:
    name: str
    streams: int
    value: float
    numerator: str
    denominator: str
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "streams": self.streams,
            "value": None if math.isnan(self.value) else round(self.value, 3),
            "numerator": self.numerator,
            "denominator": self.denominator,
            **({"note": self.note} if self.note else {}),
        }


def find(results: Sequence[CaseResult], case: str, streams: int) -> CaseResult | None:
    for result in results:
        if result.case == case and result.streams == streams:
            return result
    return None


def _div(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else float("nan")


def fps_ratio(results: Sequence[CaseResult], name: str, top: str, bottom: str, streams: int) -> Ratio | None:
    a, b = find(results, top, streams), find(results, bottom, streams)
    if a is None or b is None:
        return None
    return Ratio(name, streams, _div(a.fps, b.fps), top, bottom, "frames/s")


def p50_ratio(results: Sequence[CaseResult], name: str, top: str, bottom: str, streams: int) -> Ratio | None:
    a, b = find(results, top, streams), find(results, bottom, streams)
    if a is None or b is None:
        return None
    return Ratio(name, streams, _div(a.p50, b.p50), top, bottom, "p50 latency")


def compute_ratios(
    results: Sequence[CaseResult], streams: Sequence[int], *, max_batch: int, mesh_variants: Sequence[str]
) -> list[Ratio]:
    ratios: list[Ratio | None] = []
    for n in streams:
        ratios += [
            fps_ratio(results, "mesh / in-process", "grpc:mesh", "inproc:mesh-work", n),
            p50_ratio(results, "mesh / in-process", "grpc:mesh", "inproc:mesh-work", n),
            fps_ratio(results, "yolo service / in-process", "grpc:yolo", "inproc:yolo", n),
            fps_ratio(results, "face service / in-process", "grpc:face", "inproc:face", n),
            fps_ratio(results, "batched / unbatched (in-process)", "inproc:yolo", "inproc:yolo-unbatched", n),
            fps_ratio(results, "batched / unbatched (service)", "grpc:yolo", "grpc:yolo-unbatched", n),
        ]
        for variant in mesh_variants:
            ratios.append(
                fps_ratio(results, f"mesh {variant} / mesh", f"grpc:mesh-{variant}", "grpc:mesh", n)
            )
    model = find(results, f"model:batch-{max_batch}", 1)
    for n in streams:
        service = find(results, "grpc:yolo", n)
        if model is not None and service is not None and n >= max_batch:
            ratios.append(
                Ratio(
                    "yolo service / model-only",
                    n,
                    _div(service.fps, model.fps),
                    "grpc:yolo",
                    f"model:batch-{max_batch}",
                    "frames/s at the service's max batch",
                )
            )
    return [r for r in ratios if r is not None]


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def format_table(results: Sequence[CaseResult]) -> str:
    header = f"{'case':<28} {'streams':>7} {'frames/s':>10} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'errors':>6}"
    lines = [header, "-" * len(header)]
    for r in results:
        p50, p95, p99 = r.latency_ms
        lines.append(
            f"{r.case:<28} {r.streams:>7} {r.fps:>10.1f} {_ms(p50):>9} {_ms(p95):>9} {_ms(p99):>9} {r.errors:>6}"
        )
        if r.first_error:
            lines.append(f"{'':<28} first error: {r.first_error}")
    return "\n".join(lines)


def format_ratios(ratios: Sequence[Ratio]) -> str:
    lines = [f"{'ratio':<36} {'streams':>7} {'value':>7}  of"]
    for r in ratios:
        value = "-" if math.isnan(r.value) else f"{r.value:.2f}"
        lines.append(f"{r.name:<36} {r.streams:>7} {value:>7}  {r.note}: {r.numerator} vs {r.denominator}")
    return "\n".join(lines)


def write_json(
    path: Path, info: dict[str, Any], results: Sequence[CaseResult], ratios: Sequence[Ratio]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "info": info,
        "results": [r.as_dict() for r in results],
        "ratios": [r.as_dict() for r in ratios],
    }
    path.write_text(json.dumps(document, indent=2, allow_nan=False, default=str) + "\n", encoding="utf-8")
