"""The one retry layer for DynamoDB: which failures are tried again, how often, after what pause.

Every DynamoDB call goes through the client of shared.repository.table, which consults this module
after each failed attempt (botocore's own retries are off). A call is resent only when its failure is
transient: throttling, a server error, a connection that failed or timed out, or a transaction
cancelled only because other transactions held its items (TransactionConflict) or because it was
throttled. A failed condition is never resent: it is an answer, and the caller decides what it means.

Bounds, for every call: at most ATTEMPTS_PER_CALL attempts, with a jittered exponential pause before
each resend. Within an API request (shared.request_budget) also: at most RETRIES_PER_REQUEST resends
in all, whatever calls they belong to, and none starts, nor is waited for, past the request's
deadline. A failure that outlasts this raises StorageUnavailable (503) when the table is busy, or
TableContention (409) when other transactions keep holding the items.

Above this layer only one kind of loop remains: a write that lost an optimistic-concurrency race (a
record's version changed between read and write: ConcurrentUpdate; a channel or slug taken meanwhile)
re-reads and writes again, at most WRITE_ATTEMPTS times in all, pausing as `pause` says. This layer
never resends those failures, and a contention it gave up on (TableContention) is not one of them, so
the two never multiply on the same failure.

The worst case of one API request is therefore: the calls of one pass of its route's logic, times
WRITE_ATTEMPTS for a route that re-runs a lost write, plus RETRIES_PER_REQUEST. For example
`PUT /crm/records/{id}` with custom fields: 2 calls before the route (the caller's rights, the rate
counter), then per pass 3 (the record with its entries in one Query, the kanban, the transaction), so
at most 2 + 3 * 16 + 4 = 54 calls; `GET /crm/records/{id}`: 2 + 1 + 4 = 7.
"""

import random
import time
from typing import Any

from botocore.exceptions import ConnectionError, HTTPClientError

from shared import request_budget
from shared.errors import Conflict, ServiceUnavailable

ATTEMPTS_PER_CALL = 4
# Enough for a dozen writers changing one record at the same moment to all succeed, one after another.
WRITE_ATTEMPTS = 16
RETRIES_PER_REQUEST = request_budget.RETRIES_PER_REQUEST
_FIRST_PAUSE_SECONDS = 0.025
_LONGEST_PAUSE_SECONDS = 0.4

_BUSY_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable",
})
_BUSY_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})
_CONTENDED_REASONS = frozenset({"TransactionConflict"})
BUSY, CONTENDED = "busy", "contended"


class StorageUnavailable(ServiceUnavailable):
    """DynamoDB did not answer in time, or at all, or stayed too busy; whether a write was applied is
    unknown when it timed out."""


class TableContention(Conflict):
    """Other transactions kept holding items this write needs; nothing was written."""


def transient_failure(status_code: int, parsed: dict[str, Any]) -> str | None:
    """BUSY or CONTENDED for a DynamoDB answer worth sending again, None for any other answer."""
    code = (parsed.get("Error") or {}).get("Code")
    if code is None:
        return None
    if code in _BUSY_CODES or status_code >= 500:
        return BUSY
    if code == "TransactionCanceledException":
        reasons = {r.get("Code") for r in parsed.get("CancellationReasons") or []} - {None, "None"}
        if reasons and reasons <= _BUSY_REASONS | _CONTENDED_REASONS:
            return CONTENDED if reasons & _CONTENDED_REASONS else BUSY
    return None


def _pause_seconds(attempts: int) -> float:
    return random.uniform(0, min(_LONGEST_PAUSE_SECONDS, _FIRST_PAUSE_SECONDS * 2 ** (attempts - 1)))


def delay_before_retry(attempts: int) -> float | None:
    """The pause before resending a call that failed `attempts` times, or None when it gets no more:
    it had ATTEMPTS_PER_CALL, the request has no retry left, or the pause reaches past its deadline."""
    if attempts >= ATTEMPTS_PER_CALL:
        return None
    pause = _pause_seconds(attempts)
    if not request_budget.time_left(pause) or not request_budget.take_retry():
        return None
    return pause


def pause(attempts: int) -> bool:
    """Before a lost write tries again (after `attempts` tries): sleep the same jittered pause and
    return True, or return False at once when it would reach past the request's deadline."""
    seconds = _pause_seconds(attempts)
    if not request_budget.time_left(seconds):
        return False
    time.sleep(seconds)
    return True


def _needs_retry(attempts: int, response: Any = None, caught_exception: Exception | None = None,
                 **_: Any) -> float | None:
    """botocore's needs-retry hook: the pause before the next attempt, or None for none."""
    if caught_exception is not None:
        transient = isinstance(caught_exception, ConnectionError | HTTPClientError)
    else:
        http_response, parsed = response
        transient = transient_failure(http_response.status_code, parsed) is not None
    return delay_before_retry(attempts) if transient else None


def _raise_when_given_up(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
    """botocore's after-call hook: a transient failure that is still there after the last attempt."""
    failure = transient_failure(http_response.status_code, parsed)
    if failure == BUSY:
        raise StorageUnavailable("the database is busy; retry shortly")
    if failure == CONTENDED:
        raise TableContention("other requests are changing the same items right now; retry")


def install(client: Any) -> None:
    """Make this module the client's only retry policy (the client is built with one attempt per call)."""
    client.meta.events.unregister("needs-retry.dynamodb", unique_id="retry-config-dynamodb")
    client.meta.events.register("needs-retry.dynamodb", _needs_retry, unique_id="crm-retries")
    client.meta.events.register("after-call.dynamodb", _raise_when_given_up, unique_id="crm-given-up")
