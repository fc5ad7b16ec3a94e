"""Record history and the change feed, written by the events consumer from the table's stream.

History: one partition per record (`HISTORY#<account>#<record>`), one entry per version, kept after the
record is deleted or purged. Feed: one partition per account (`FEED#<account>`), entries keyed by a
per-account sequence number, with a counter item (`FEEDSEQ#<account>`) that holds the last one.

`append` writes k changes as ONE transaction: the counter from n to n + k (on the condition that it is
still n), the feed entries n + 1 .. n + k, and each change's history entry (on the condition that it
does not exist yet). Feed entries therefore appear in sequence order, together with the counter: once a
reader has seen entry n, no entry below n can appear later, whatever the writes' timestamps. And a
change is recorded once: a stream retry finds its history entry and is dropped.
"""

import json
from collections.abc import Iterable, Sequence
from typing import Any

from shared.errors import Conflict, NotFound
from shared.models.domain import FeedEntry, HistoryEntry, Page, Record, RecordChange
from shared.repository import dynamo, keys
from shared.repository.records import record_from_item
from shared.repository.table import TTL_ATTRIBUTE

HISTORY_RETENTION_SECONDS = 365 * 24 * 3600
FEED_RETENTION_SECONDS = 30 * 24 * 3600
# A transaction holds at most 100 items: the counter and two per change (feed and history entries).
MAX_TRANSACTION_ITEMS = 100
# DynamoDB refuses a transaction of more than 4 MB; changes written together stay well under it, as
# measured by their items' JSON (never smaller than DynamoDB's count of their size).
MAX_TRANSACTION_JSON_BYTES = 3_000_000
# A history entry keeps the values before and after; where both would not fit in an item (400 KB),
# it keeps only which attributes changed.
_MAX_HISTORY_JSON_BYTES = 300_000


class FeedMoved(Conflict):
    """Another writer appended to the account's feed since its counter was read; read it again."""


class AlreadyRecorded(Conflict):
    """A change of the transaction has its history entry already: it was recorded before."""


def _record_attributes(record: Record) -> dict[str, Any]:
    """The record as the feed keeps it (the attribute names of a record item)."""
    return {
        "recordId": record.record_id, "accountId": record.account_id, "kanbanId": record.kanban_id,
        "title": record.title, "status": record.status, "customFields": record.custom_fields,
        "assignedUserIds": list(record.assigned_user_ids), "channelId": record.channel_id,
        "createdAt": record.created_at, "updatedAt": record.updated_at, "createdBy": record.created_by,
        "updatedBy": record.updated_by, "version": record.version,
    }


def _history_item(change: RecordChange, now_ms: int) -> dict[str, Any]:
    pk, sk = keys.history_key(change.account_id, change.record_id, change.version)
    item = {
        "PK": pk, "SK": sk, "recordId": change.record_id, "kanbanId": change.kanban_id,
        "version": change.version, "action": change.action, "at": change.at, "by": change.by,
        "changes": change.changes, TTL_ATTRIBUTE: now_ms // 1000 + HISTORY_RETENTION_SECONDS,
    }
    if len(json.dumps(item, default=str)) > _MAX_HISTORY_JSON_BYTES:
        item["changes"] = {name: {"omitted": True} for name in change.changes}
    return item


def _feed_item(change: RecordChange, sequence: int, now_ms: int) -> dict[str, Any]:
    item = {
        "PK": keys.feed_pk(change.account_id), "SK": keys.feed_sk(sequence), "recordId": change.record_id,
        "kanbanId": change.kanban_id, "action": change.action, "version": change.version, "at": change.at,
        "recordedAt": now_ms, TTL_ATTRIBUTE: now_ms // 1000 + FEED_RETENTION_SECONDS,
    }
    if change.action != "deleted":
        item["record"] = _record_attributes(change.record)
    return item


def change_size(change: RecordChange) -> int:
    """The JSON size of what recording the change writes (its feed and history entries)."""
    return len(json.dumps(_feed_item(change, 0, 0), default=str)) + len(json.dumps(_history_item(change, 0),
                                                                                   default=str))


def transaction_groups(changes: Sequence[RecordChange]) -> list[range]:
    """`changes` (of one account) cut, in order, into runs that `append` can write in one transaction
    each: within DynamoDB's item and size limits."""
    groups: list[range] = []
    start, items, size = 0, 1, 0
    for position, change in enumerate(changes):
        own = change_size(change)
        if position > start and (items + 2 > MAX_TRANSACTION_ITEMS or size + own > MAX_TRANSACTION_JSON_BYTES):
            groups.append(range(start, position))
            start, items, size = position, 1, 0
        items += 2
        size += own
    if start < len(changes):
        groups.append(range(start, len(changes)))
    return groups


def feed_sequence(account_id: str) -> int:
    """The sequence number of the account's last feed entry (0 before the first), strongly consistent."""
    item = dynamo.get(*keys.feed_sequence_key(account_id))
    return int(item["seq"]) if item else 0


def append(account_id: str, after: int, changes: Sequence[RecordChange], now_ms: int) -> None:
    """Record changes of one account as feed entries after + 1 .. after + k and history entries, in one
    transaction. Raises FeedMoved when the counter is no longer at `after`, AlreadyRecorded when a
    change's history entry exists (then nothing is written)."""
    counter_pk, counter_sk = keys.feed_sequence_key(account_id)
    moved = FeedMoved(f"the change feed of account {account_id} moved on")
    if after == 0:
        counter = dynamo.update(counter_pk, counter_sk, "SET seq = :next", "attribute_not_exists(PK)",
                                values={":next": after + len(changes)})
    else:
        counter = dynamo.update(counter_pk, counter_sk, "SET seq = :next", "seq = :seq",
                                values={":next": after + len(changes), ":seq": after})
    writes = [dynamo.Write(counter, moved)]
    for offset, change in enumerate(changes, start=1):
        writes.append(dynamo.Write(dynamo.put(_feed_item(change, after + offset, now_ms), "attribute_not_exists(PK)"),
                                   moved))
        writes.append(dynamo.Write(dynamo.put(_history_item(change, now_ms), "attribute_not_exists(PK)"),
                                   AlreadyRecorded(f"record {change.record_id} version {change.version} is "
                                                   "recorded already")))
    dynamo.transact(writes)


def recorded(account_id: str, changes: Iterable[RecordChange]) -> set[tuple[str, int]]:
    """(record id, version) of the changes whose history entry exists."""
    wanted = [keys.history_key(account_id, c.record_id, c.version) for c in changes]
    found = dynamo.batch_get(wanted, attributes=("recordId", "version"))
    return {(item["recordId"], int(item["version"])) for item in found.values()}


def _history_entry(item: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(record_id=item["recordId"], kanban_id=item["kanbanId"], version=item["version"],
                        action=item["action"], at=item["at"], by=item["by"], changes=item.get("changes", {}))


def history_page(account_id: str, record_id: str, limit: int, cursor: dict[str, Any] | None) -> Page:
    """A record's history, newest first. NotFound when the record has none at all."""
    items, last = dynamo.query(partition=keys.history_pk(account_id, record_id), limit=limit, start_key=cursor,
                               newest_first=True)
    if not items and cursor is None:
        raise NotFound(f"record {record_id} not found")
    return Page(items=tuple(_history_entry(i) for i in items), cursor=last)


def feed_entries(account_id: str, after: int, limit: int) -> list[FeedEntry]:
    """Up to `limit` feed entries of the account after the sequence number `after`, in order."""
    items, _ = dynamo.query(partition=keys.feed_pk(account_id), sort_after=keys.feed_sk(after), limit=limit)
    return [
        FeedEntry(sequence=int(i["SK"]), record_id=i["recordId"], kanban_id=i["kanbanId"], action=i["action"],
                  version=i["version"], at=i["at"], recorded_at=i["recordedAt"],
                  record=record_from_item(i["record"]) if i.get("record") else None)
        for i in items
    ]
