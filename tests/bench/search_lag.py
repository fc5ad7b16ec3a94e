"""Search lag: how long after a write's response the record is findable through GET /crm/search.

Starts the real local stack (`python -m shared.local.stack`, what `make run` runs) on free ports with a
temporary data directory, writes records sequentially over HTTP (creates, and updates that change the
title), and after each write polls the search until the record is found under a word only it has.

    python -m tests.bench.search_lag [--creates 200] [--updates 50]
"""

import argparse
import random
import string
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench import goals
from tests.bench.goals import GoalRow
from tests.bench.stats import percentile, summary_line
from tests.local_stack import LocalStack, local_stack

KANBAN_ID = "kanban_123"
RUN_DEADLINE_SECONDS = 600
# Polling every 10 ms far exceeds the default per-account limits; lift them (requests are still
# counted, so each one keeps the limiter's cost).
LIFTED_LIMITS = {"RATE_LIMIT_PER_MINUTE": "1000000", "RATE_LIMIT_PER_HOUR": "10000000"}


@dataclass
class Results:
    """Lag per write kind, request times, and the writes never found within the timeout."""

    lag_ms: dict[str, list[float]] = field(default_factory=lambda: {"create": [], "update": []})
    write_ms: list[float] = field(default_factory=list)
    search_ms: list[float] = field(default_factory=list)
    timeouts: int = 0
    search_errors: int = 0


def unique_word(rng: random.Random, used: set[str]) -> str:
    """A random 10-letter word no earlier title holds (and, almost surely, none within two typos)."""
    for _ in range(100):
        word = "".join(rng.choices(string.ascii_lowercase, k=10))
        if word not in used:
            used.add(word)
            return word
    raise RuntimeError("no unused word after 100 tries")


def wait_until_findable(stack: LocalStack, word: str, record_id: str, results: Results, interval: float,
                        timeout: float) -> float | None:
    """Milliseconds from now until a search for the word returns the record, or None on timeout."""
    path = "/crm/search?" + urllib.parse.urlencode({"q": word})
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        before = time.perf_counter()
        response = stack.request("GET", path)
        after = time.perf_counter()
        results.search_ms.append((after - before) * 1000)
        if response.status != 200:
            results.search_errors += 1
        elif any(item["recordId"] == record_id for item in response.json()["items"]):
            return (after - started) * 1000
        time.sleep(interval)
    return None


def timed_write(stack: LocalStack, method: str, path: str, body: dict[str, Any], expected: int,
                results: Results) -> dict[str, Any]:
    """Send one write, record its duration, and return its JSON answer."""
    started = time.perf_counter()
    response = stack.request(method, path, body=body)
    results.write_ms.append((time.perf_counter() - started) * 1000)
    if response.status != expected:
        raise RuntimeError(f"{method} {path} answered {response.status}: {response.body!r}")
    return response.json()


def run(stack: LocalStack, creates: int, updates: int, interval: float, timeout: float, seed: int) -> Results:
    """Creates interleaved with evenly spread updates of earlier records; one lag sample per write."""
    rng = random.Random(seed)
    used: set[str] = set()
    results = Results()
    created: list[str] = []
    update_every = max(1, creates // updates) if updates else 0
    deadline = time.monotonic() + RUN_DEADLINE_SECONDS
    for n in range(creates):
        if time.monotonic() > deadline:
            print(f"stopped after {n} creates: the run deadline of {RUN_DEADLINE_SECONDS} s passed")
            break
        word = unique_word(rng, used)
        record = timed_write(stack, "POST", f"/crm/records?kanbanId={KANBAN_ID}",
                             {"title": f"Benchmark lead {word}", "status": "new"}, 201, results)
        created.append(record["recordId"])
        _record_lag(results, "create", wait_until_findable(stack, word, record["recordId"], results, interval,
                                                             timeout))
        if update_every and (n + 1) % update_every == 0 and len(results.lag_ms["update"]) < updates:
            record_id = rng.choice(created)
            word = unique_word(rng, used)
            timed_write(stack, "PUT", f"/crm/records/{record_id}", {"title": f"Benchmark lead {word} (renamed)"},
                        200, results)
            _record_lag(results, "update", wait_until_findable(stack, word, record_id, results, interval, timeout))
    return results


def _record_lag(results: Results, kind: str, lag_ms: float | None) -> None:
    if lag_ms is None:
        results.timeouts += 1
    else:
        results.lag_ms[kind].append(lag_ms)


def report(results: Results, interval: float, timeout: float) -> None:
    print(f"Lag from write response to first search that finds the record "
          f"(polling every {interval * 1000:.0f} ms, timeout {timeout:.0f} s per write):")
    for kind, lags in results.lag_ms.items():
        print(f"  {summary_line(kind, lags)}")
    print(f"  {summary_line('all writes', [ms for lags in results.lag_ms.values() for ms in lags])}")
    print(f"  timeouts={results.timeouts}  search errors={results.search_errors}")
    print("Request times for reference (they bound the lag's resolution):")
    print(f"  {summary_line('write request', results.write_ms)}")
    print(f"  {summary_line('search request', results.search_ms)}")


def rows(results: Results, interval: float, timeout: float) -> list[GoalRow]:
    """The lag of each kind of write as figures (no goal: the deployed stack's freshness is set by its
    stream's event source mappings, which the infrastructure tests assert)."""
    note = (f"local stack, sequential writes, polling every {interval * 1000:.0f} ms; timeouts ({timeout:.0f} s) "
            f"{results.timeouts}, search errors {results.search_errors}")
    return [GoalRow(f"search lag: {kind} -> findable", _p50_p95(lags) + f" ({len(lags)} {kind}s)", note=note)
            for kind, lags in results.lag_ms.items()]


def _p50_p95(values_ms: list[float]) -> str:
    if not values_ms:
        return "no samples"
    return f"p50 {percentile(values_ms, 50):.0f} ms, p95 {percentile(values_ms, 95):.0f} ms"


def measure(creates: int = 200, updates: int = 50, interval_ms: float = 10, timeout_s: float = 10,
            seed: int = 11) -> list[GoalRow]:
    """Run the writes against a fresh local stack; print the detail, return the lag rows."""
    interval = interval_ms / 1000
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as temp:
        started = time.perf_counter()
        with local_stack(Path(temp), LIFTED_LIMITS) as stack:
            print(f"== search_lag: local stack at {stack.base_url} "
                  f"(ready in {time.perf_counter() - started:.1f} s); {creates} creates + "
                  f"{updates} title updates on {KANBAN_ID}, sequential", flush=True)
            measured = time.perf_counter()
            results = run(stack, creates, updates, interval, timeout_s, seed)
            print(f"Writes and polling took {time.perf_counter() - measured:.1f} s")
            report(results, interval, timeout_s)
    return rows(results, interval, timeout_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=200, help="POST /crm/records, sequentially")
    parser.add_argument("--updates", type=int, default=50, help="PUT title changes of records created before")
    parser.add_argument("--interval-ms", type=float, default=10)
    parser.add_argument("--timeout-s", type=float, default=10, help="per write")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    sys.exit(goals.report(measure(args.creates, args.updates, args.interval_ms, args.timeout_s, args.seed)))


if __name__ == "__main__":
    main()
