"""Batches: up to 100 record operations in one request, run one after another, in order.

Each operation is exactly the single-record route's work: the same request model checks its record, the
same logic function (shared.logic.records) applies every rule and writes in its own transaction. So an
operation succeeds or fails on its own, and its outcome says which. What the operations share is the
request's checks (the token, the rate limit: one request) and the reads of the account and its kanbans
(shared_reads).

A failure of the service itself (5xx: the database did not answer, or an unexpected error) stops the
batch: that operation's write may or may not have happened, and the operations after it are not run,
each answered 503 so a client can send them again. So does the request's time budget (request_budget):
an operation starts only while OPERATION_SECONDS of it remain, and the rest are answered 503, not run.
"""

from dataclasses import dataclass

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from shared import request_budget
from shared.conditional import expected_versions
from shared.errors import DomainError, ServiceUnavailable
from shared.logic import records, shared_reads
from shared.models.api import (
    BatchCreate,
    BatchDelete,
    BatchOperation,
    BatchUpdate,
    BatchUpsert,
    CreateRecordRequest,
    UpdateRecordRequest,
)
from shared.models.domain import Principal, Record

logger = Logger()

# An operation starts only while this much of the request's time budget remains, so it can finish: one
# operation makes a few calls, each within the DynamoDB client's timeouts.
OPERATION_SECONDS = 1.0


@dataclass(frozen=True)
class Outcome:
    """What one operation did: the record it created, updated or deleted (`created`: a new one), or why
    it failed: a domain error, or the ValidationError of its record body."""

    record: Record | None = None
    created: bool = False
    error: DomainError | ValidationError | None = None


def _run(principal: Principal, operation: BatchOperation) -> Outcome:
    match operation:
        case BatchCreate() | BatchUpsert():
            request = CreateRecordRequest.model_validate(operation.record)
            record, created = records.create_record(
                principal, operation.kanbanId, request, upsert=isinstance(operation, BatchUpsert)
            )
            return Outcome(record, created)
        case BatchUpdate():
            request = UpdateRecordRequest.model_validate(operation.record)
            expected = expected_versions(operation.ifMatch)
            return Outcome(records.update_record(principal, operation.recordId, request, expected))
        case BatchDelete():
            return Outcome(records.delete_record(principal, operation.recordId, expected_versions(operation.ifMatch)))
    raise AssertionError(f"unknown operation {operation!r}")


def _failed(index: int, error: DomainError | ValidationError) -> Outcome:
    if isinstance(error, DomainError) and error.status >= 500:
        unavailable = error.status == ServiceUnavailable.status
        return Outcome(error=(ServiceUnavailable if unavailable else DomainError)(
            f"{error.message}; operation {index} may or may not have been written (read before sending it again), "
            "and the operations after it were not run"
        ))
    return Outcome(error=error)


def run(principal: Principal, operations: list[BatchOperation]) -> list[Outcome]:
    """The outcome of each operation, in order."""
    outcomes: list[Outcome] = []
    with shared_reads.shared():
        for index, operation in enumerate(operations):
            if not request_budget.time_left(OPERATION_SECONDS):
                not_run = ServiceUnavailable(f"not run: the request ran out of time after {index} operations; "
                                             "nothing was written for this operation")
                outcomes += [Outcome(error=not_run)] * (len(operations) - index)
                break
            try:
                outcomes.append(_run(principal, operation))
                continue
            except (DomainError, ValidationError) as refused:
                outcome = _failed(index, refused)
            except Exception:
                logger.exception("a batch operation failed", extra={"operation": index})
                outcome = _failed(index, DomainError("an unexpected error occurred"))
            outcomes.append(outcome)
            shared_reads.forget()  # what failed may have been a kanban read before a change
            if isinstance(outcome.error, DomainError) and outcome.error.status >= 500:
                not_run = ServiceUnavailable(f"not run, as operation {index} failed; nothing was written")
                outcomes += [Outcome(error=not_run)] * (len(operations) - index - 1)
                break
    return outcomes
