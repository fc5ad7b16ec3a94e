"""From the table's stream to record changes: which stream changes mean what, recording each change
once in the record's history and the account's change feed, and handing it to the publishers.

What a stream change means:
- a record item (SK RECORD) inserted at version 1: `created`; inserted at a later version: `restored`
  (it came back from the trash); modified to another version with a visible change (title, status,
  custom fields, assignees): `updated`; removed: nothing (the trash item carries the deletion);
- a trash item (SK TRASH) inserted: `deleted`, at the version it holds (the deleted version + 1), by
  `deletedBy` at `deletedAt`; removed (restored or purged): nothing.

`changes` names what changed, `{"<attribute>": {"from": old, "to": new}}` with custom fields as
`customFields.<fieldId>`: for `updated` only what differs, for `created` every attribute set (from
null), for `deleted` and `restored` nothing (`{}`).
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.errors import DomainError
from shared.ids import now_ms
from shared.models.api import RecordResponse
from shared.models.domain import Record, RecordChange
from shared.repository import changes as repository
from shared.repository import keys, retries
from shared.repository.records import record_from_item, record_partition_item

log = logging.getLogger(__name__)

# How often a transaction that lost the race for the account's feed counter reads it again and retries.
APPEND_ATTEMPTS = 32
_VISIBLE = ("title", "status", "assignedUserIds")

# One stream change: (event name, new image, old image), images in DynamoDB JSON.
StreamChange = tuple[str, dict[str, Any] | None, dict[str, Any] | None]


class ChangeNotRecorded(DomainError):
    """A change could not be recorded (the table stayed busy or contended); the stream delivers it again."""


class PublishFailed(DomainError):
    """A publisher could not hand on the change at `position` (of the list it was given) or later ones."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


class ChangePublisher(Protocol):
    """An outbound port: where each recorded change goes (EventBridge; webhooks)."""

    def publish(self, changes: Sequence[RecordChange]) -> None:
        """Hand on every change, in order, at least once; raise PublishFailed naming the first one not
        handed on."""


def event_types(change: RecordChange) -> list[str]:
    """The event types a change is published as: record.<action>, and record.status_changed for an
    update that moved the record to another status."""
    types = [f"record.{change.action}"]
    if change.status_changed:
        types.append("record.status_changed")
    return types


def event_id(change: RecordChange, event_type: str) -> str:
    """The same every time a change is published again, so receivers can drop repeats."""
    return f"evt_{change.record_id}_{change.version}_{event_type.removeprefix('record.')}"


def event_record(change: RecordChange) -> dict[str, Any]:
    """The record as events carry it: as GET /crm/records/{id} answers it (for a deletion, as it was)."""
    return RecordResponse.model_validate(change.record).model_dump(mode="json")


def _differences(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    old = old or {}
    found: dict[str, Any] = {}
    for name in _VISIBLE:
        before, after = old.get(name), new.get(name)
        if before != after and (before or after):
            found[name] = {"from": before, "to": after}
    before_fields, after_fields = old.get("customFields") or {}, new.get("customFields") or {}
    for field_id in sorted(set(before_fields) | set(after_fields)):
        before, after = before_fields.get(field_id), after_fields.get(field_id)
        if before != after:
            found[f"customFields.{field_id}"] = {"from": before, "to": after}
    return found


def _change(record: Record, action: str, at: int, by: str, changes: dict[str, Any], version: int | None = None,
            status_changed: bool = False) -> RecordChange:
    return RecordChange(
        account_id=record.account_id, record_id=record.record_id, kanban_id=record.kanban_id, action=action,
        version=record.version if version is None else version, at=at, by=by, changes=changes, record=record,
        status_changed=status_changed,
    )


def interpret(event_name: str, new_image: dict[str, Any] | None, old_image: dict[str, Any] | None
              ) -> RecordChange | None:
    """The record change a stream change means, or None when it means none (see the module's doc)."""
    new, old = record_partition_item(new_image), record_partition_item(old_image)
    if event_name == "REMOVE" or new is None:
        return None
    if new.get("SK") == keys.TRASH_SK:
        if event_name != "INSERT":
            return None
        record = record_from_item(new)
        return _change(record, "deleted", new.get("deletedAt", record.updated_at),
                       new.get("deletedBy", record.updated_by), {})
    if new.get("SK") != keys.RECORD_SK:
        return None
    record = record_from_item(new)
    if event_name == "INSERT":
        if record.version == 1:
            return _change(record, "created", record.created_at, record.created_by, _differences(None, new))
        return _change(record, "restored", record.updated_at, record.updated_by, {})
    if old is None or old.get("version") == new.get("version"):
        return None
    differences = _differences(old, new)
    if not differences:
        return None  # a version bump that nobody can see (locks of a field made unique)
    return _change(record, "updated", record.updated_at, record.updated_by, differences,
                   status_changed="status" in differences)


@dataclass
class Recording:
    """What recording a batch did: the position of the first change not recorded (None: all were),
    and figures for the logs."""

    failed_from: int | None = None
    recorded: int = 0
    duplicates: int = 0
    conflicts: int = 0
    transactions: int = 0
    errors: list[str] = field(default_factory=list)


def _append(account_id: str, changes: list[RecordChange], outcome: Recording) -> None:
    """One transaction's changes: allocate their sequence numbers from the account's counter as read,
    again after a lost race; a change recorded already (a stream retry) is dropped."""
    pending = changes
    for attempt in range(1, APPEND_ATTEMPTS + 1):
        after = repository.feed_sequence(account_id)
        try:
            repository.append(account_id, after, pending, now_ms())
            outcome.recorded += len(pending)
            outcome.transactions += 1
            return
        except (repository.FeedMoved, retries.TableContention):
            outcome.conflicts += 1
            retries.pause(attempt)
        except repository.AlreadyRecorded:
            done = repository.recorded(account_id, pending)
            outcome.duplicates += len(done)
            pending = [c for c in pending if (c.record_id, c.version) not in done]
            if not pending:
                return
    raise ChangeNotRecorded(f"the change feed of account {account_id} stayed contended; retry")


def record_changes(changes: Sequence[tuple[int, RecordChange]]) -> Recording:
    """Record (position, change) pairs of a batch, in order, each once: its history entry and its feed
    entry. Changes are packed per account into as few transactions as hold them; for each account,
    the first transaction that fails stops it, so a record's later version is never recorded before
    an earlier one. `failed_from` is the position of the first change not recorded: it and every
    change after it are to be delivered again (those recorded meanwhile are then dropped as
    duplicates)."""
    outcome = Recording()
    by_account: dict[str, list[tuple[int, RecordChange]]] = {}
    seen: set[tuple[str, str, int]] = set()
    for position, change in changes:
        identity = (change.account_id, change.record_id, change.version)
        if identity not in seen:  # the same change twice in a batch is recorded once
            seen.add(identity)
            by_account.setdefault(change.account_id, []).append((position, change))
    failed: list[int] = []
    for account_id, entries in by_account.items():
        for group in repository.transaction_groups([c for _, c in entries]):
            chunk = [entries[i] for i in group]
            try:
                _append(account_id, [c for _, c in chunk], outcome)
            except Exception as error:  # the table failed: deliver this change and what follows again
                log.warning("recording changes of account %s failed: %s", account_id, error)
                outcome.errors.append(str(error))
                failed.append(chunk[0][0])
                break
    outcome.failed_from = min(failed) if failed else None
    return outcome


@dataclass
class BatchOutcome:
    """The positions from which the batch is to be delivered again (None: none), and what it did."""

    failed_from: int | None
    recording: Recording
    published: int


def handle_stream(changes: Sequence[StreamChange], publishers: Sequence[ChangePublisher],
                  on_error: Callable[[int, Exception], None] | None = None) -> BatchOutcome:
    """A batch of the stream: interpret each change, record them, then hand every change before the
    first failure to the publishers (again on a redelivery: publishing is at least once, and each
    event carries a deterministic id to deduplicate). Returns where redelivery must start."""
    interpreted: list[tuple[int, RecordChange]] = []
    failed_from: int | None = None
    for position, (event_name, new_image, old_image) in enumerate(changes):
        try:
            change = interpret(event_name, new_image, old_image)
        except Exception as error:  # an image we cannot read: it and what follows fail (bisect isolates it)
            if on_error:
                on_error(position, error)
            failed_from = position
            break
        if change is not None:
            interpreted.append((position, change))
    recording = record_changes(interpreted)
    if recording.failed_from is not None:
        failed_from = recording.failed_from if failed_from is None else min(failed_from, recording.failed_from)
    ready = [(p, c) for p, c in interpreted if failed_from is None or p < failed_from]
    published = publish(ready, publishers)
    if published < len(ready):
        position = ready[published][0]
        failed_from = position if failed_from is None else min(failed_from, position)
    return BatchOutcome(failed_from=failed_from, recording=recording, published=published)


def publish(changes: Sequence[tuple[int, RecordChange]], publishers: Sequence[ChangePublisher]) -> int:
    """THE place where each recorded change is handed to the publishers (EventBridge; webhooks), in
    order. Returns how many of the leading changes every publisher took."""
    done = len(changes)
    for publisher in publishers:
        try:
            publisher.publish([c for _, c in changes[:done]])
        except PublishFailed as failure:
            log.warning("publishing failed: %s", failure.message)
            done = min(done, failure.position)
    return done
