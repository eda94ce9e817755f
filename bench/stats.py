"""Latency summaries: nearest-rank percentiles, so a p99 is a latency that was actually observed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, float]) -> Summary:
        return cls(int(values["n"]), values["p50"], values["p90"], values["p99"], values["max"], values["mean"])


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (0.0 for none)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(values: Sequence[float]) -> Summary:
    ordered = sorted(values)
    mean = sum(ordered) / len(ordered) if ordered else 0.0
    return Summary(len(ordered), percentile(ordered, 0.50), percentile(ordered, 0.90), percentile(ordered, 0.99),
                   ordered[-1] if ordered else 0.0, mean)
