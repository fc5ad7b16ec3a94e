"""Throughput: requests per second of the local stack for GET and POST at 1, 4 and 16 concurrent clients.

Starts the real local stack (`python -m shared.local.stack`, what `make run` runs) on free ports with a
temporary data directory and the per-account rate limits lifted (every request is still counted, so all
clients update the one demo account's counter item, as many users of one account would). Creates a pool
of records in batches and warms the stack up with a burst of each method at the highest client count, so
the gateway's worker pool has scaled out before anything is timed. Then, for each method and client
count, that many threads send requests back to back for a fixed time, each over its own keep-alive HTTP
connection: POST /crm/records with a small record, or GET /crm/records/{id} of a pooled record. Every
answer must be 201 (POST) or 200 (GET) on a connection the gateway keeps open, or the run fails.
Reports the requests completed per second and their p50/p95 latency. The stack indexes the creates and
records their changes meanwhile, on the same machine, as it would under real use.

    python -m tests.bench.throughput [--seconds 5]
"""

import argparse
import http.client
import json
import os
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench.batch_speed import LIFTED_LIMITS
from tests.bench.goals import GoalRow, report
from tests.bench.stats import percentile
from tests.local_stack import LocalStack, local_stack

CLIENT_COUNTS = (1, 4, 16)
POOLED_RECORDS = 200
BATCH_SIZE = 100
WARM_UP_SECONDS = 2.0


@dataclass(frozen=True)
class Workload:
    """One kind of request: its label, method and expected status, and the path and body of a client's
    n-th request."""

    label: str
    method: str
    expected_status: int
    request: Callable[[int, int], tuple[str, dict[str, Any] | None]]


def create_workload() -> Workload:
    return Workload("POST /crm/records", "POST", 201, lambda client, n: (
        "/crm/records", {"title": f"throughput lead {client}-{n}", "status": "contacted"}))


def get_workload(record_ids: list[str]) -> Workload:
    return Workload("GET /crm/records/{id}", "GET", 200, lambda client, n: (
        f"/crm/records/{record_ids[(client + n) % len(record_ids)]}", None))


def create_pool(stack: LocalStack) -> list[str]:
    """The ids of POOLED_RECORDS new records, created in batches."""
    record_ids: list[str] = []
    while len(record_ids) < POOLED_RECORDS:
        operations = [{"action": "create", "record": {"title": f"pooled lead {len(record_ids) + i}"}}
                      for i in range(BATCH_SIZE)]
        response = stack.request("POST", "/crm/records/batch", body={"operations": operations})
        results = response.json()["results"] if response.status == 200 else []
        if [r["status"] for r in results] != [201] * BATCH_SIZE:
            raise RuntimeError(f"the pool's batch answered {response.status}: {response.body[:2000]!r}")
        record_ids += [r["record"]["recordId"] for r in results]
    return record_ids


def client(stack: LocalStack, workload: Workload, number: int, deadline: float) -> list[float]:
    """Requests back to back over one keep-alive connection until the deadline; their latencies in ms."""
    address = urllib.parse.urlsplit(stack.base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    headers = {"Authorization": f"Bearer {stack.demo['token']}", "Content-Type": "application/json"}
    latencies_ms: list[float] = []
    try:
        while time.perf_counter() < deadline:
            path, body = workload.request(number, len(latencies_ms))
            started = time.perf_counter()
            connection.request(workload.method, path, body=None if body is None else json.dumps(body),
                               headers=headers)
            response = connection.getresponse()
            payload = response.read()
            latencies_ms.append((time.perf_counter() - started) * 1000)
            if response.status != workload.expected_status:
                raise RuntimeError(f"{workload.method} {path} answered {response.status}, not "
                                   f"{workload.expected_status}: {payload[:2000]!r}")
            if response.will_close:
                raise RuntimeError(f"the local gateway closed the keep-alive connection after {workload.method} {path}")
    finally:
        connection.close()
    return latencies_ms


def run_clients(stack: LocalStack, workload: Workload, clients: int, seconds: float) -> tuple[list[float], float]:
    """Every request's latency (ms) from `clients` concurrent clients running for `seconds`, and the
    seconds until the last of them finished."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        running = [pool.submit(client, stack, workload, number, started + seconds) for number in range(clients)]
        latencies_ms = [latency for future in running for latency in future.result()]
    return latencies_ms, time.perf_counter() - started


def measure(seconds: float = 5.0) -> list[GoalRow]:
    """One row per method and client count: requests per second with p50/p95 latency."""
    rows = []
    note = f"local stack, {os.cpu_count()}-core machine"
    with tempfile.TemporaryDirectory(prefix="crm-throughput-") as work, local_stack(Path(work), LIFTED_LIMITS) as stack:
        workloads = [get_workload(create_pool(stack)), create_workload()]
        for workload in reversed(workloads):  # the creates' indexing settles during the reads' warm-up
            run_clients(stack, workload, max(CLIENT_COUNTS), WARM_UP_SECONDS)
        for workload in workloads:
            for clients in CLIENT_COUNTS:
                latencies_ms, elapsed = run_clients(stack, workload, clients, seconds)
                rows.append(GoalRow(
                    f"{workload.label}, {clients} client{'s' if clients > 1 else ''}",
                    f"{len(latencies_ms) / elapsed:.0f} req/s (p50 {percentile(latencies_ms, 50):.1f} ms, "
                    f"p95 {percentile(latencies_ms, 95):.1f} ms)",
                    note=f"{note}; {len(latencies_ms)} requests in {elapsed:.1f} s",
                ))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each method and client count runs")
    args = parser.parse_args()
    sys.exit(report(measure(args.seconds)))


if __name__ == "__main__":
    main()
