"""Batch speed: 100 creates as one POST /crm/records/batch against 100 sequential POST /crm/records.

Starts the real local stack (`python -m shared.local.stack`, what `make run` runs) on free ports with a
temporary data directory, warms it up, then times both ways of creating 100 records (best of a few
rounds each, so a pause of the machine does not decide the result). Fails unless the batch is at least
MIN_RATIO times faster.

    python -m tests.bench.batch_speed [--records 100] [--rounds 3]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.goals import GoalRow, report
from tests.local_stack import LocalStack, local_stack

MIN_RATIO = 5.0
# Every sequential create is a request: lift the per-account limits (requests are still counted).
LIFTED_LIMITS = {"RATE_LIMIT_PER_MINUTE": "1000000", "RATE_LIMIT_PER_HOUR": "10000000"}


def _record(round_: int, i: int, way: str) -> dict[str, object]:
    return {"title": f"{way} lead {round_}-{i}", "status": "contacted"}


def sequential(stack: LocalStack, round_: int, records: int) -> float:
    started = time.perf_counter()
    for i in range(records):
        response = stack.request("POST", "/crm/records", body=_record(round_, i, "single"))
        if response.status != 201:
            raise RuntimeError(f"POST /crm/records answered {response.status}: {response.body!r}")
    return time.perf_counter() - started


def batched(stack: LocalStack, round_: int, records: int) -> float:
    operations = [{"action": "create", "record": _record(round_, i, "batch")} for i in range(records)]
    started = time.perf_counter()
    response = stack.request("POST", "/crm/records/batch", body={"operations": operations})
    elapsed = time.perf_counter() - started
    statuses = [r["status"] for r in response.json()["results"]] if response.status == 200 else None
    if statuses != [201] * records:
        raise RuntimeError(f"the batch answered {response.status}: {response.body[:2000]!r}")
    return elapsed


def measure(records: int = 100, rounds: int = 3) -> list[GoalRow]:
    """Best of `rounds` both ways, after a warm-up; one row comparing them."""
    with tempfile.TemporaryDirectory() as work, local_stack(Path(work), LIFTED_LIMITS) as stack:
        print(f"== batch_speed: local stack at {stack.base_url}; {records} creates, best of {rounds}", flush=True)
        sequential(stack, -1, 10)  # warm the functions and the table
        batched(stack, -1, 10)
        single_s = min(sequential(stack, r, records) for r in range(rounds))
        batch_s = min(batched(stack, r, records) for r in range(rounds))
    ratio = single_s / batch_s
    return [GoalRow(
        f"batch of {records} creates vs {records} POSTs", f"{ratio:.1f}x faster", f">= {MIN_RATIO:.0f}x",
        ratio >= MIN_RATIO,
        f"local stack, best of {rounds}: {records} sequential POST /crm/records {single_s * 1000:.0f} ms, "
        f"one POST /crm/records/batch {batch_s * 1000:.0f} ms",
    )]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.exit(report(measure(args.records, args.rounds)))


if __name__ == "__main__":
    main()
