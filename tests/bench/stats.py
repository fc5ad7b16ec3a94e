"""Latency summaries shared by the benchmarks."""

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary_line(label: str, values_ms: Sequence[float], width: int = 16) -> str:
    """One aligned report line: count, median, p95 and max in milliseconds."""
    if not values_ms:
        return f"{label:<{width}} n=0"
    return (f"{label:<{width}} n={len(values_ms):<4} p50={percentile(values_ms, 50):8.1f} ms  "
            f"p95={percentile(values_ms, 95):8.1f} ms  max={max(values_ms):8.1f} ms")
