"""Search lag: how long after a write's response the record is findable through GET /crm/search.

Starts the real local stack (`python -m shared.local.stack`, what `make run` runs) on free ports with a
temporary data directory, writes records sequentially over HTTP (creates, and updates that change the
title), and after each write polls the search until the record is found under a word only it has.

    python -m tests.bench.search_lag [--creates 200] [--updates 50]
"""

import argparse
import json
import os
import queue
import random
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.local.typesense import free_port
from tests.bench.stats import summary_line

REPO = Path(__file__).resolve().parents[2]
KANBAN_ID = "kanban_123"
STARTUP_SECONDS = 120
RUN_DEADLINE_SECONDS = 600


@dataclass
class Stack:
    """The running local stack: its base URL and the demo admin token."""

    base_url: str
    token: str

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")


@dataclass
class Results:
    """Lag per write kind, request times, and the writes never found within the timeout."""

    lag_ms: dict[str, list[float]] = field(default_factory=lambda: {"create": [], "update": []})
    write_ms: list[float] = field(default_factory=list)
    search_ms: list[float] = field(default_factory=list)
    timeouts: int = 0
    search_errors: int = 0


@contextmanager
def local_stack(data_dir: Path) -> Iterator[Stack]:
    """Run the local stack as a subprocess on free ports until the block ends."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TABLE_", "DYNAMODB_"))}
    environment |= {"PORT": str(free_port()), "DYNAMODB_PORT": str(free_port()),
                    "TYPESENSE_PORT": str(free_port()), "LOCAL_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1",
                    # Polling every 10 ms far exceeds the default per-account limits; lift them (requests
                    # are still counted, so each one keeps the limiter's cost).
                    "RATE_LIMIT_PER_MINUTE": "1000000", "RATE_LIMIT_PER_HOUR": "10000000"}
    log_path = data_dir.parent / "stack.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "shared.local.stack"], cwd=REPO, env=environment,
                                   stdout=subprocess.PIPE, stderr=log)
    try:
        ready = _wait_until_ready(process)
        if ready is None:
            raise RuntimeError(f"the local stack did not start:\n{log_path.read_text()[-3000:]}")
        yield Stack(ready["baseUrl"], ready["token"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_ready(process: subprocess.Popen) -> dict[str, str] | None:
    """The stack's READY line as JSON, or None if it exits or stays silent for STARTUP_SECONDS.

    A reader thread keeps draining stdout for the stack's whole life, so the pipe never fills.
    """
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for raw in stdout:
            lines.put(raw.decode(errors="replace"))
        lines.put("")

    threading.Thread(target=read, name="stack-stdout", daemon=True).start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            return None
        if line.startswith("READY "):
            return json.loads(line.removeprefix("READY "))
        if not line:
            return None
    return None


def unique_word(rng: random.Random, used: set[str]) -> str:
    """A random 10-letter word no earlier title holds (and, almost surely, none within two typos)."""
    for _ in range(100):
        word = "".join(rng.choices(string.ascii_lowercase, k=10))
        if word not in used:
            used.add(word)
            return word
    raise RuntimeError("no unused word after 100 tries")


def wait_until_findable(stack: Stack, word: str, record_id: str, results: Results, interval: float,
                        timeout: float) -> float | None:
    """Milliseconds from now until a search for the word returns the record, or None on timeout."""
    path = "/crm/search?" + urllib.parse.urlencode({"q": word})
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        before = time.perf_counter()
        status, body = stack.request("GET", path)
        after = time.perf_counter()
        results.search_ms.append((after - before) * 1000)
        if status != 200:
            results.search_errors += 1
        elif any(item["recordId"] == record_id for item in body["items"]):
            return (after - started) * 1000
        time.sleep(interval)
    return None


def timed_write(stack: Stack, method: str, path: str, body: dict[str, Any], expected: int,
                results: Results) -> dict[str, Any]:
    """Send one write, record its duration, and return its JSON answer."""
    started = time.perf_counter()
    status, answer = stack.request(method, path, body)
    results.write_ms.append((time.perf_counter() - started) * 1000)
    if status != expected:
        raise RuntimeError(f"{method} {path} answered {status}: {answer}")
    return answer


def run(stack: Stack, creates: int, updates: int, interval: float, timeout: float, seed: int) -> Results:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=200, help="POST /crm/records, sequentially")
    parser.add_argument("--updates", type=int, default=50, help="PUT title changes of records created before")
    parser.add_argument("--interval-ms", type=float, default=10)
    parser.add_argument("--timeout-s", type=float, default=10, help="per write")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    interval, timeout = args.interval_ms / 1000, args.timeout_s

    with tempfile.TemporaryDirectory(prefix="crm-bench-") as temp:
        started = time.perf_counter()
        with local_stack(Path(temp) / "data") as stack:
            print(f"== search_lag: local stack at {stack.base_url} "
                  f"(ready in {time.perf_counter() - started:.1f} s); {args.creates} creates + "
                  f"{args.updates} title updates on {KANBAN_ID}, sequential")
            measured = time.perf_counter()
            results = run(stack, args.creates, args.updates, interval, timeout, args.seed)
            print(f"Writes and polling took {time.perf_counter() - measured:.1f} s")
            report(results, interval, timeout)


if __name__ == "__main__":
    main()
