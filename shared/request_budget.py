"""The time a request may still spend waiting on its dependencies, and the retries it may still make.

API Gateway gives up on a function after 29 s and answers 504 while the function's writes may still
complete. Each request therefore gets a budget: once it is spent, no further call to a dependency
starts, and the request answers 503 with Retry-After well before the gateway's limit. The same
budget holds the request's allowance of resent DynamoDB calls (shared.repository.retries), so a
request that meets a busy table makes a few more calls, not a multiple of its calls.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# Calls start only within this budget; with the DynamoDB client's timeouts (1 s to connect, 2 s to
# read) the last one ends at most 3 s later, still inside the functions' 10 s timeout.
REQUEST_BUDGET_SECONDS = 6.0
# Resent DynamoDB calls per request, all its calls together (see shared.repository.retries).
RETRIES_PER_REQUEST = 4


@dataclass
class _Budget:
    deadline: float
    retries_left: int


_budget: ContextVar[_Budget | None] = ContextVar("request_budget", default=None)


@contextmanager
def limited(seconds: float = REQUEST_BUDGET_SECONDS, retries: int = RETRIES_PER_REQUEST) -> Iterator[None]:
    """Run one request within a budget; outside such a block (tools, the indexer) calls are unbounded
    in time and in retries (each call still gets at most its own few attempts)."""
    token = _budget.set(_Budget(deadline=time.monotonic() + seconds, retries_left=retries))
    try:
        yield
    finally:
        _budget.reset(token)


def spent() -> bool:
    return not time_left(0.0)


def time_left(seconds: float) -> bool:
    """Whether more than `seconds` remain before the deadline (always, outside a request)."""
    budget = _budget.get()
    return budget is None or time.monotonic() + seconds < budget.deadline


def take_retry() -> bool:
    """Use one of the request's retries; False when none is left (always True outside a request)."""
    budget = _budget.get()
    if budget is None:
        return True
    if budget.retries_left <= 0:
        return False
    budget.retries_left -= 1
    return True
