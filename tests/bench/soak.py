"""Soak: does the local stack stay fast and small under sustained use?

Starts the real local stack (`python -m shared.local.stack`, what `make run` runs) on free ports and sends
a fixed number of mixed requests from a few concurrent keep-alive clients: creates carrying about 10 KB
of custom fields, updates, gets, lists and searches. Every 1,000 requests it prints the window's
throughput and latency and the resident memory of the stack's whole process tree (the stack, its
gateway workers and Typesense). It passes when the last window's p95 is within 1.5x the first's and
the tree stays under 1 GB.

    python -m tests.bench.soak [--requests 50000] [--clients 4]    (or SOAK_REQUESTS=3000)
"""

import argparse
import http.client
import itertools
import json
import os
import random
import string
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import goals
from tests.bench.goals import GoalRow
from tests.bench.search_lag import LIFTED_LIMITS
from tests.bench.stats import percentile
from tests.local_stack import LocalStack, local_stack

KANBAN_ID = "kanban_123"
DEMO_RECORD_IDS = ["record_1704067200000_abc123", "record_1704067200001_def456"]
WINDOW = 1000
NOTES_CHARACTERS = 10_000
MAX_P95_GROWTH = 1.5
MAX_TREE_RSS_BYTES = 1024**3
# Past this the run stops early (and fails) rather than let the stack exhaust the machine's memory.
ABORT_TREE_RSS_BYTES = 6 * 1024**3
PROGRESS_SECONDS = 30
# Share of each kind of request in the mix.
MIX = {"create": 20, "update": 20, "get": 30, "list": 15, "search": 15}


@dataclass
class Outcome:
    kind: str
    status: int
    latency_ms: float
    finished: float


class Workload:
    """The requests to send, numbered, and what the creates made (ids and title words to search for)."""

    def __init__(self, total: int, seed: int):
        self.total = total
        self._seed = seed
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self.record_ids = list(DEMO_RECORD_IDS)
        self.words = ["john", "jane"]

    def stop(self) -> None:
        """Hand out no more requests."""
        with self._lock:
            self.total = 0

    def next_request(self) -> tuple[str, str, str, dict[str, Any] | None] | None:
        """(kind, method, path, body) of the next request, or None when all were handed out."""
        with self._lock:
            number = next(self._numbers)
            if number >= self.total:
                return None
            rng = random.Random(self._seed * 1_000_003 + number)
            kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
            record_id = rng.choice(self.record_ids)
            word = rng.choice(self.words)
        if kind == "create":
            return kind, "POST", f"/crm/records?kanbanId={KANBAN_ID}", _new_record(rng)
        if kind == "update":
            return kind, "PUT", f"/crm/records/{record_id}", {
                "status": rng.choice(["new", "contacted", "qualified"]),
                "customFields": {"field_notes_abc": _words(rng, NOTES_CHARACTERS // 2)}}
        if kind == "get":
            return kind, "GET", f"/crm/records/{record_id}", None
        if kind == "list":
            return kind, "GET", f"/crm/records?kanbanId={KANBAN_ID}&limit=20", None
        return kind, "GET", "/crm/search?" + urllib.parse.urlencode({"q": word, "kanbanId": KANBAN_ID}), None

    def created(self, answer: dict[str, Any]) -> None:
        with self._lock:
            self.record_ids.append(answer["recordId"])
            self.words.append(answer["title"].split()[-1])


def _words(rng: random.Random, characters: int) -> str:
    text = " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(characters // 6))
    return text[:characters]


def _new_record(rng: random.Random) -> dict[str, Any]:
    word = "".join(rng.choices(string.ascii_lowercase, k=10))
    return {"title": f"Soak lead {word}", "status": "new", "customFields": {
        "field_email_123": f"{word}@example.com",
        "field_phone_456": f"+1{rng.randint(2_000_000_000, 9_999_999_999)}",
        "field_source_789": rng.choice(["Website", "Referral", "Social Media", "Cold Call"]),
        "field_notes_abc": _words(rng, NOTES_CHARACTERS),
    }}


def client(stack: LocalStack, workload: Workload, outcomes: list[Outcome], lock: threading.Lock) -> None:
    """One keep-alive HTTP connection sending requests until the workload is exhausted."""
    url = urllib.parse.urlsplit(stack.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": f"Bearer {stack.demo['token']}", "Content-Type": "application/json"}
    while (request := workload.next_request()) is not None:
        kind, method, path, body = request
        started = time.perf_counter()
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            status = response.status
            if response.will_close:
                connection.close()
        except (OSError, http.client.HTTPException):
            connection.close()
            status, payload = 0, b""
        finished = time.perf_counter()
        if kind == "create" and status == 201:
            workload.created(json.loads(payload))
        with lock:
            outcomes.append(Outcome(kind, status, (finished - started) * 1000, finished))
    connection.close()


def tree_rss(root_pid: int) -> dict[str, int]:
    """Resident memory (bytes) of root_pid's descendants (not root_pid itself) from /proc, by process
    (pid and command name)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The command name in field 2 may hold spaces; the parent pid follows its closing parenthesis.
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    descendants, frontier = set(), {root_pid}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - descendants
        descendants |= frontier
    return {f"{pid} {name}": rss for pid in sorted(descendants) for name, rss in [_name_and_rss(pid)]}


def _name_and_rss(pid: int) -> tuple[str, int]:
    name, rss = "?", 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Name:"):
                name = line.split()[1]
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return name, rss


def window_line(number: int, window: list[Outcome], started: float, rss: dict[str, int]) -> str:
    latencies = [o.latency_ms for o in window]
    seconds = window[-1].finished - started
    errors = sum(1 for o in window if o.status >= 400 or o.status == 0)
    return (f"window {number:>3}: {len(window) / seconds:6.1f} req/s  p50={percentile(latencies, 50):7.1f} ms  "
            f"p95={percentile(latencies, 95):7.1f} ms  errors={errors:<3} RSS={sum(rss.values()) / 1024**2:7.1f} MB "
            f"(largest: {max(rss, key=rss.get, default='-')} {max(rss.values(), default=0) / 1024**2:.0f} MB)")


def run(stack: LocalStack, total: int, clients: int, seed: int) -> list[GoalRow]:
    workload = Workload(total, seed)
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    threads = [threading.Thread(target=client, args=(stack, workload, outcomes, lock), daemon=True)
               for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    windows: list[list[Outcome]] = []
    window_started = progress_at = started
    rss: dict[str, int] = {}
    first_rss: dict[str, int] = {}
    while True:
        finished = not any(t.is_alive() for t in threads)
        if len(outcomes) >= (len(windows) + 1) * WINDOW or (finished and len(outcomes) > len(windows) * WINDOW):
            with lock:
                window = outcomes[len(windows) * WINDOW:(len(windows) + 1) * WINDOW]
            rss = tree_rss(os.getpid())
            windows.append(window)
            first_rss = first_rss or rss
            print(window_line(len(windows), window, window_started, rss), flush=True)
            window_started = progress_at = window[-1].finished
        elif finished:
            break
        elif time.perf_counter() - progress_at > PROGRESS_SECONDS:
            rss = tree_rss(os.getpid())
            progress_at = time.perf_counter()
            print(f"  ... {len(outcomes)} requests done, RSS={sum(rss.values()) / 1024**2:7.1f} MB", flush=True)
        else:
            time.sleep(0.2)
        if sum(rss.values()) > ABORT_TREE_RSS_BYTES and workload.total:
            print(f"stopping early: the stack tree passed {ABORT_TREE_RSS_BYTES / 1024**3:.0f} GB", flush=True)
            workload.stop()
    elapsed = time.perf_counter() - started
    return report(outcomes, windows, elapsed, rss, first_rss, clients)


def report(outcomes: list[Outcome], windows: list[list[Outcome]], elapsed: float, rss: dict[str, int],
           first_rss: dict[str, int], clients: int) -> list[GoalRow]:
    errors = sum(1 for o in outcomes if o.status >= 400 or o.status == 0)
    by_kind = {kind: sum(1 for o in outcomes if o.kind == kind) for kind in MIX}
    print(f"{len(outcomes)} requests in {elapsed:.1f} s: {len(outcomes) / elapsed:.1f} req/s, {errors} errors; "
          + ", ".join(f"{kind} {count}" for kind, count in by_kind.items()))
    for label, window in (("first", windows[0]), ("last", windows[-1])):
        print(f"  {label} window by kind: " + ", ".join(
            f"{kind} p50={percentile(ms, 50):.0f} p95={percentile(ms, 95):.0f} ms"
            for kind in MIX if (ms := [o.latency_ms for o in window if o.kind == kind])))
    first = percentile([o.latency_ms for o in windows[0]], 95)
    last = percentile([o.latency_ms for o in windows[-1]], 95)
    latency_ok = last <= MAX_P95_GROWTH * first
    total_rss = sum(rss.values())
    memory_ok = total_rss < MAX_TREE_RSS_BYTES
    print(f"{'PASS' if latency_ok else 'FAIL'}: p95 of the last {len(windows[-1])} requests {last:.1f} ms, "
          f"of the first {len(windows[0])} {first:.1f} ms (limit {MAX_P95_GROWTH}x = {MAX_P95_GROWTH * first:.1f} ms)")
    print(f"{'PASS' if memory_ok else 'FAIL'}: stack process tree RSS {total_rss / 1024**2:.1f} MB "
          f"(limit {MAX_TREE_RSS_BYTES / 1024**2:.0f} MB): "
          + ", ".join(f"{process} {size / 1024**2:.0f} MB" for process, size in rss.items()))
    statuses = Counter(f"{o.kind} {o.status or 'no answer'}" for o in outcomes if o.status >= 400 or o.status == 0)
    print(f"{'PASS' if errors == 0 else 'FAIL'}: {errors} requests failed"
          + "".join(f"; {what}: {count}" for what, count in statuses.most_common()))
    note = (f"local stack, {len(outcomes)} mixed requests from {clients} clients in {elapsed:.0f} s, "
            f"windows of {WINDOW}")
    return [
        GoalRow("soak: p95 latency, last window vs first", f"{last:.0f} ms vs {first:.0f} ms ({last / first:.2f}x)",
                f"<= {MAX_P95_GROWTH}x", latency_ok, note),
        GoalRow("soak: stack memory (RSS of its process tree)",
                f"{total_rss / 1024**2:.0f} MB at the end ({sum(first_rss.values()) / 1024**2:.0f} MB after "
                f"the first window)", f"< {MAX_TREE_RSS_BYTES / 1024**2:.0f} MB", memory_ok, note),
        GoalRow("soak: failed requests", f"{errors}", "0", errors == 0, note),
    ]


def default_requests() -> int:
    return int(os.environ.get("SOAK_REQUESTS", "50000"))


def measure(requests: int | None = None, clients: int | None = None, seed: int = 7) -> list[GoalRow]:
    """Soak a fresh local stack; SOAK_REQUESTS and SOAK_CLIENTS give the defaults."""
    requests = default_requests() if requests is None else requests
    clients = int(os.environ.get("SOAK_CLIENTS", "4")) if clients is None else clients
    with tempfile.TemporaryDirectory(prefix="crm-soak-") as temp, local_stack(Path(temp), LIFTED_LIMITS) as stack:
        print(f"== soak: local stack at {stack.base_url}; {requests} requests from {clients} "
              f"keep-alive clients ({', '.join(f'{k} {v}%' for k, v in MIX.items())}), windows of {WINDOW}",
              flush=True)
        return run(stack, requests, clients, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=default_requests())
    parser.add_argument("--clients", type=int, default=int(os.environ.get("SOAK_CLIENTS", "4")))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sys.exit(goals.report(measure(args.requests, args.clients, args.seed)))


if __name__ == "__main__":
    main()
