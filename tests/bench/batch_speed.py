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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work, local_stack(Path(work), LIFTED_LIMITS) as stack:
        sequential(stack, -1, 10)  # warm the functions and the table
        batched(stack, -1, 10)
        single_s = min(sequential(stack, r, args.records) for r in range(args.rounds))
        batch_s = min(batched(stack, r, args.records) for r in range(args.rounds))
    ratio = single_s / batch_s
    print(f"batch_speed: {args.records} sequential POST /crm/records {single_s * 1000:.0f} ms, "
          f"one batch of {args.records} creates {batch_s * 1000:.0f} ms: {ratio:.1f}x faster "
          f"(best of {args.rounds}; required {MIN_RATIO:.0f}x)")
    if ratio < MIN_RATIO:
        print(f"FAIL: the batch is only {ratio:.1f}x faster", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
