"""Every benchmark in sequence, then one table: each goal with the figure measured for it in this run,
and the figures reported without a goal. Exits 1 if a goal is not met.

Each benchmark runs in a fresh Python process of its own (its settings, clients and services are its
own, as when it runs alone: `python -m tests.bench.<name>`). A benchmark that fails to run is a row
that is not met; the others still run.

    python -m tests.bench [--quick] [--only NAME ...] [--soak-requests N]    (or SOAK_REQUESTS=N)

--quick runs smaller sizes (about 10 minutes instead of about 50); the notes of the rows they measured
say so.
"""

import argparse
import logging
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from tests.bench import asserted, batch_speed, cold_start, search_lag, search_latency, search_overhead, soak, throughput
from tests.bench.goals import GoalRow, report

QUICK_SOAK_REQUESTS = 2_000
# Run first in a bench's process: no line per request from the embedded DynamoDB's HTTP server (as the
# benches' own main functions set it).
QUIET = logging.getLogger("werkzeug").setLevel


@dataclass(frozen=True)
class Bench:
    """One benchmark: what it measures with, at full size and at quick size (None: the same)."""

    name: str
    measure: Callable[..., list[GoalRow]]
    full: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] | None = None
    quick_note: str = ""


def benches(soak_requests: int | None) -> list[Bench]:
    """In the order of the goals of the performance work; the figures without goals last."""
    soak_full = soak.default_requests() if soak_requests is None else soak_requests
    soak_quick = soak_requests or int(os.environ.get("SOAK_REQUESTS", QUICK_SOAK_REQUESTS))
    return [
        Bench("cold_start", cold_start.measure, {"rounds": 15}, {"rounds": 3}, "3 cold-start rounds (full: 15)"),
        Bench("round_trips", asserted.round_trips),
        Bench("search_overhead", search_overhead.measure, {"documents": 100_000}, {"documents": 10_000},
              "10,000 documents (full: 100,000)"),
        Bench("stream_mappings", asserted.stream_mappings),
        Bench("search_lag", search_lag.measure, {"creates": 200, "updates": 50}, {"creates": 50, "updates": 10},
              "50 creates and 10 updates (full: 200 and 50)"),
        Bench("batch_speed", batch_speed.measure),
        Bench("soak", soak.measure, {"requests": soak_full}, {"requests": soak_quick},
              f"{soak_quick:,} requests (full: {soak_full:,})"),
        Bench("throughput", throughput.measure, {"seconds": 5.0}, {"seconds": 2.0}, "2 s per run (full: 5 s)"),
        Bench("search_latency", search_latency.measure, {"records": 100_000}, {"records": 10_000},
              "10,000 records (full: 100,000)"),
    ]


def run(bench: Bench, quick: bool) -> list[GoalRow]:
    """The bench's rows, measured in a fresh process; one row not met if it failed to run."""
    arguments = bench.quick if quick and bench.quick is not None else bench.full
    started = time.perf_counter()
    print(f"\n### {bench.name} {' '.join(f'{k}={v}' for k, v in arguments.items())}".rstrip(), flush=True)
    try:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, spawn, initializer=QUIET, initargs=(logging.WARNING,)) as pool:
            rows = pool.submit(bench.measure, **arguments).result()
    except Exception as error:  # reported as a row; the other benches still run
        traceback.print_exc()
        why = f"{type(error).__name__}: {error}".splitlines()[0][:200]
        return [GoalRow(f"{bench.name}: ran", "failed", "runs to the end", False, why)]
    print(f"### {bench.name} done in {time.perf_counter() - started:.0f} s", flush=True)
    if quick and bench.quick is not None:
        rows = [replace(row, note=f"{row.note}; QUICK: {bench.quick_note}".lstrip("; ")) for row in rows]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: fewer rounds, documents and requests")
    parser.add_argument("--soak-requests", type=int, default=None,
                        help="requests of the soak (default: SOAK_REQUESTS, else 50,000, or 2,000 with --quick)")
    names = [bench.name for bench in benches(None)]
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME",
                        help=f"run only these benches: {', '.join(names)}")
    args = parser.parse_args()
    # The benches' own processes print their progress as it happens, even through a pipe.
    os.environ["PYTHONUNBUFFERED"] = "1"
    started = time.perf_counter()
    rows: list[GoalRow] = []
    for bench in benches(args.soak_requests):
        if args.only is None or bench.name in args.only:
            rows += run(bench, args.quick)
    print(f"\n== make bench{' (quick sizes)' if args.quick else ''}: {time.perf_counter() - started:.0f} s\n",
          flush=True)
    sys.exit(report(rows))


if __name__ == "__main__":
    main()
