"""End-to-end tests talk HTTP to the real local stack, started once per session on free ports."""

import time

import pytest

from tests.local_stack import local_stack


def eventually(check, timeout: float = 15.0, interval: float = 0.05):
    """Poll until check() returns a truthy value (search follows writes through the stream)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    # The demo account serves every e2e test; the limiter test sets its own account's limits.
    limits = {"RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_PER_HOUR": "1000000"}
    # Webhook retries after about a second rather than 30 s, so a retry is seen within the test.
    webhooks = {"WEBHOOK_RETRY_BASE_SECONDS": "1"}
    with local_stack(tmp_path_factory.mktemp("stack"), limits | webhooks) as running:
        yield running
