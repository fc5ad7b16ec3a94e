"""The time a request may still spend waiting on its dependencies.

API Gateway gives up on a function after 29 s and answers 504 while the function's writes may still
complete. Each request therefore gets a budget: once it is spent, no further call to a dependency
starts, and the request answers 503 with Retry-After well before the gateway's limit.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Calls start only within this budget; with the clients' timeouts (DynamoDB: 1 s to connect, 2 s to
# read, 2 attempts) the last one ends a few seconds later, still inside the functions' 10 s timeout.
REQUEST_BUDGET_SECONDS = 6.0

_deadline: ContextVar[float | None] = ContextVar("request_deadline", default=None)


@contextmanager
def limited(seconds: float = REQUEST_BUDGET_SECONDS) -> Iterator[None]:
    """Run one request within a budget; outside such a block (tools, the indexer) calls are unbounded."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def spent() -> bool:
    deadline = _deadline.get()
    return deadline is not None and time.monotonic() >= deadline
