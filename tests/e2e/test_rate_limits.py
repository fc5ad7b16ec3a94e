"""The limiter under real concurrency: parallel requests over HTTP, handlers in parallel processes."""

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.e2e


def crm_admin(stack, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "shared.admin_cli", *args, "--endpoint-url", f"http://127.0.0.1:{stack.dynamodb_port}"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(result.stdout)


def test_exactly_the_limit_is_admitted_under_parallel_requests(stack):
    account = crm_admin(stack, "bootstrap", "--account-name", "Busy Co")
    crm_admin(stack, "limits", "set", "--account-id", account["accountId"], "--per-minute", "10")
    if time.time() % 60 > 50:  # keep the burst inside one minute window
        time.sleep(61 - time.time() % 60)

    with ThreadPoolExecutor(max_workers=15) as pool:
        responses = list(pool.map(lambda _: stack.request("GET", "/kanbans", token=account["token"]), range(30)))

    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 10 + [403] * 20
    refused = next(r for r in responses if r.status == 403)
    assert refused.json()["error"] == "Forbidden" and "Retry-After" in refused.headers
    admitted = sorted(int(r.headers["X-RateLimit-Remaining"]) for r in responses if r.status == 200)
    assert admitted == list(range(10))
