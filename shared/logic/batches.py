"""Batches: up to 100 record operations in one request, run in order.

Each operation is the single-record route's work: the same request model checks its record, the same
logic (shared.logic.records) applies every rule. So an operation succeeds or fails on its own, and its
outcome says which. What the operations share is the request's checks (the token, the rate limit: one
request) and the reads of the account and its kanbans (shared_reads).

Creates in a row are checked one by one, then written together: as many as fit in one transaction
(shared.repository.records.creation_groups), which is what makes a bulk import fast. When a condition
refuses such a transaction (a channelId or unique value taken meanwhile, the kanban changed), nothing
of it is written, and its creates are written one by one instead, each answered as on its own.

A failure of the service itself (5xx: the database did not answer, or an unexpected error) stops the
batch: that operation's write (or its group's) may or may not have happened, and the operations after
it are not run, each answered 503 so a client can send them again. So does the request's time budget
(request_budget): a write starts only while OPERATION_SECONDS of it remain, and the operations not yet
written are answered 503, not run.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

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
from shared.repository import records as record_repository

logger = Logger()

# A write starts only while this much of the request's time budget remains, so it can finish: one
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


def _prepare(principal: Principal, operation: BatchCreate) -> Outcome | record_repository.NewRecord:
    request = CreateRecordRequest.model_validate(operation.record)
    prepared = records.prepare_create(principal, operation.kanbanId, request)
    return Outcome(prepared, created=False) if isinstance(prepared, Record) else prepared


class _Batch:
    """The outcomes of a batch's operations as they run, and whether the batch has stopped."""

    def __init__(self, principal: Principal, size: int):
        self.principal = principal
        self.outcomes: list[Outcome | None] = [None] * size
        self.stopped: ServiceUnavailable | None = None  # what the operations not run are answered

    def attempt(self, indexes: Sequence[int], step: Callable[[], Any]) -> Any:
        """Run one step of the operations at `indexes` (one, or a group of creates written together):
        its result, or None once their outcomes say why it failed. A 5xx stops the batch."""
        if not request_budget.time_left(OPERATION_SECONDS):
            self.stopped = ServiceUnavailable(f"not run: the request ran out of time after {indexes[0]} operations; "
                                              "nothing was written for this operation")
            return None
        try:
            return step()
        except (DomainError, ValidationError) as refused:
            error = refused
        except Exception:
            logger.exception("a batch operation failed", extra={"operations": list(indexes)})
            error = DomainError("an unexpected error occurred")
        shared_reads.forget()  # what failed may have been a kanban read before a change
        if isinstance(error, DomainError) and error.status >= 500:
            error = self._unknown_outcome(indexes, error)
            self.stopped = ServiceUnavailable(f"not run, as operation {indexes[-1]} failed; nothing was written")
        for index in indexes:
            self.outcomes[index] = Outcome(error=error)
        return None

    @staticmethod
    def _unknown_outcome(indexes: Sequence[int], error: DomainError) -> DomainError:
        which = (f"operation {indexes[0]} may or may not have been written" if len(indexes) == 1 else
                 f"operations {indexes[0]} to {indexes[-1]} were written together, and may or may not have been")
        unavailable = error.status == ServiceUnavailable.status
        return (ServiceUnavailable if unavailable else DomainError)(
            f"{error.message}; {which} (read before sending again), and the operations after it were not run"
        )

    def run_alone(self, index: int, operation: BatchOperation) -> None:
        outcome = self.attempt([index], lambda: _run(self.principal, operation))
        if outcome is not None:
            self.outcomes[index] = outcome

    def create(self, first: int, operations: list[BatchCreate]) -> None:
        """Creates in a row: each checked, then written in groups of one transaction each. A stop while
        checking still lets the creates checked before it be written: they come first."""
        ready: list[tuple[int, record_repository.NewRecord]] = []
        for index, operation in enumerate(operations, first):
            prepared = self.attempt([index], lambda op=operation: _prepare(self.principal, op))
            if self.stopped:
                break
            if isinstance(prepared, Outcome):
                self.outcomes[index] = prepared
            elif prepared is not None:
                ready.append((index, prepared))
        stopped, self.stopped = self.stopped, None
        for group in record_repository.creation_groups([new for _, new in ready]):
            if not self._write(*zip(*(ready[position] for position in group), strict=True)):
                return
        self.stopped = stopped

    def _write(self, indexes: Sequence[int], news: Sequence[record_repository.NewRecord]) -> bool:
        """Write a group of creates: together, or one by one if a condition refused that. False once the
        batch has stopped."""
        if len(news) > 1:
            together = self.attempt(indexes, lambda: records.write_together(list(news)))
            if together:
                for index, new in zip(indexes, news, strict=True):
                    self.outcomes[index] = Outcome(new.record, created=True)
            if together is not False:
                return not self.stopped
        for index, new in zip(indexes, news, strict=True):
            written = self.attempt([index], lambda n=new: records.write_new(self.principal, n))
            if self.stopped:
                return False
            if written is not None:
                self.outcomes[index] = Outcome(*written)
        return True

    def results(self) -> list[Outcome]:
        return [outcome or Outcome(error=self.stopped) for outcome in self.outcomes]


def run(principal: Principal, operations: list[BatchOperation]) -> list[Outcome]:
    """The outcome of each operation, in order."""
    batch = _Batch(principal, len(operations))
    with shared_reads.shared():
        index = 0
        for is_create, run_of_operations in groupby(operations, key=lambda op: isinstance(op, BatchCreate)):
            same_kind = list(run_of_operations)
            if is_create:
                batch.create(index, same_kind)
            else:
                for offset, operation in enumerate(same_kind):
                    if batch.stopped:
                        break
                    batch.run_alone(index + offset, operation)
            index += len(same_kind)
            if batch.stopped:
                break
    return batch.results()
