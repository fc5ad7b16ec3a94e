"""Records, written atomically with their assignment entries, field-value index entries, channel lock,
unique-value locks and the kanban's status counters; and the trash, where a deleted record waits to be
restored or purged.

A delete is one transaction: the record item and its entries go, its locks are released, the counters
drop, and its trash item (SK TRASH, in the record's own partition: every attribute of the record item,
its version + 1, deletedAt, deletedBy and expiresAt, the TTL that purges it) is put with one trash entry
per assignee (SK TASSIGN#<userId>). Trash items and entries sit in the trash's partitions of the list
indexes (keys.list_scope(..., trashed=True)), sorted by deletion. A restore is the reverse, one
transaction too; the record comes back at the trash item's version + 1."""

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import ConcurrentUpdate, Conflict, NotFound, ValidationFailed
from shared.models.domain import Kanban, Page, Record, TrashedRecord
from shared.repository import dynamo, keys
from shared.repository.kanbans import unique_field_ids
from shared.repository.table import FIELD_VALUE_INDEX, FIELD_VALUE_PK, FIELD_VALUE_SK, LIST_SORT_KEY

# One normalized value of an indexed custom field: (field id, normalized value).
IndexEntry = tuple[str, str]
_MAX_TRANSACTION_ITEMS = 100
# DynamoDB refuses a transaction of more than 4 MB; records written together stay well under it, as
# measured by their items' JSON (which is never smaller than DynamoDB's count of their size).
_MAX_TRANSACTION_JSON_BYTES = 3_000_000
_MAX_LIST_ROUNDS = 10
# What a trash item copies from the record item (the rest: its own keys, version and deletion).
_RECORD_ATTRIBUTES = ("recordId", "accountId", "kanbanId", "title", "status", "customFields", "assignedUserIds",
                      "channelId", "createdAt", "updatedAt", "createdBy", "updatedBy", "searchValues",
                      "uniqueValues")


# The kanban's unique field ids when the record was last written with the kanban read: a change that
# leaves custom fields alone checks the kanban still has them instead of reading it (update_record).
_KANBAN_UNIQUE_FIELDS = "kanbanUniqueFieldIds"


class KanbanChanged(ConcurrentUpdate):
    """The record's kanban no longer has its status, or no longer the unique fields it had when the
    record was last written with the kanban read: the write needs the kanban read."""


class ChannelTaken(Conflict):
    """The kanban already has a record for this channelId: `holder` names it (when known)."""

    def __init__(self, message: str = "channel taken", holder: str | None = None):
        super().__init__(message)
        self.holder = holder


class UniqueValueTaken(Conflict):
    """Another record of the kanban holds this normalized value of a unique field."""

    def __init__(self, field_id: str, value: str):
        super().__init__(f"the value of field {field_id} is taken")
        self.field_id = field_id
        self.value = value


@dataclass(frozen=True)
class NewRecord:
    """A record checked and ready to write: the kanban it was checked against, as read, its indexed
    values, and those of unique fields among them."""

    record: Record
    kanban: Kanban
    entries: list[IndexEntry]
    unique: list[IndexEntry]


def _record_item(record: Record, entries: list[IndexEntry], unique: list[IndexEntry],
                 kanban: Kanban | None, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record's item. Written with the kanban as read: its unique fields then are kept with the
    record (_KANBAN_UNIQUE_FIELDS); written without (`kanban` None), the search values and that copy
    are carried over from the `stored` item."""
    assert kanban is not None or stored is not None
    return {
        "PK": keys.record_pk(record.account_id, record.record_id),
        "SK": keys.RECORD_SK,
        **keys.record_list_keys(record.account_id, record.kanban_id, record.status),
        LIST_SORT_KEY: keys.created_sort_key(record.created_at, record.record_id),
        "recordId": record.record_id,
        "accountId": record.account_id,
        "kanbanId": record.kanban_id,
        "title": record.title,
        "status": record.status,
        "customFields": record.custom_fields,
        "assignedUserIds": list(record.assigned_user_ids),
        "channelId": record.channel_id,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "createdBy": record.created_by,
        "updatedBy": record.updated_by,
        "version": record.version,
        # The normalized indexed values, for the search index fed by the table's stream.
        "searchValues": [value for _, value in entries] if kanban else stored["searchValues"],
        # The unique values whose locks the record holds: what its next write or its delete releases.
        "uniqueValues": [list(entry) for entry in unique],
        _KANBAN_UNIQUE_FIELDS: unique_field_ids(kanban) if kanban else stored.get(_KANBAN_UNIQUE_FIELDS),
    }


def record_from_item(item: dict[str, Any]) -> Record:
    return Record(
        record_id=item["recordId"],
        account_id=item["accountId"],
        kanban_id=item["kanbanId"],
        title=item["title"],
        status=item["status"],
        custom_fields=item.get("customFields", {}),
        assigned_user_ids=tuple(item.get("assignedUserIds", [])),
        channel_id=item.get("channelId"),
        created_at=item["createdAt"],
        updated_at=item["updatedAt"],
        created_by=item["createdBy"],
        updated_by=item["updatedBy"],
        version=item["version"],
    )


def trashed_from_item(item: dict[str, Any]) -> TrashedRecord:
    return TrashedRecord(**record_from_item(item).model_dump(), deleted_at=item["deletedAt"],
                         deleted_by=item["deletedBy"])


def _is_child(sk: str) -> bool:
    """An item of a live record's partition that indexes it (an assignment or field-value entry)."""
    return sk.startswith((keys.ASSIGNMENT_PREFIX, keys.FIELD_VALUE_PREFIX))


def _children(record: Record, entries: list[IndexEntry] | None) -> dict[str, dict[str, Any]]:
    """The items that index a record, keyed by sort key: one per assignee, one per indexed value."""
    pk = keys.record_pk(record.account_id, record.record_id)
    created = keys.created_sort_key(record.created_at, record.record_id)
    children: dict[str, dict[str, Any]] = {}
    for user_id in record.assigned_user_ids:
        sk = keys.assignment_sk(user_id)
        children[sk] = {
            "PK": pk, "SK": sk, LIST_SORT_KEY: created, "recordId": record.record_id, "userId": user_id,
            "kanbanId": record.kanban_id,
            **keys.assignment_list_keys(record.account_id, user_id, record.kanban_id, record.status),
        }
    for field_id, value in entries or []:
        sk = keys.field_value_sk(field_id, value)
        children[sk] = {
            "PK": pk, "SK": sk, "recordId": record.record_id, "fieldId": field_id, "kanbanId": record.kanban_id,
            FIELD_VALUE_PK: keys.field_value_key(record.account_id, field_id, value),
            FIELD_VALUE_SK: created,
        }
    return children


def _kanban_accepts(kanban: Kanban, statuses: Iterable[str]) -> dynamo.Write:
    """The kanban still exists, still has these statuses, and its unique fields are still those whose
    locks the write takes (as the kanban was read), checked in the same transaction."""
    return _kanban_has(kanban.account_id, kanban.kanban_id, statuses, unique_field_ids(kanban))


def _kanban_has(account_id: str, kanban_id: str, statuses: Iterable[str],
                unique: str | None) -> dynamo.Write:
    """The kanban still exists and has these statuses, checked in the transaction; with `unique` (the
    kanban's unique field ids as read, "" for none) its unique fields are still those too; a write that
    does not check them at all passes None. A write that takes or releases no lock can pass the ids
    the record kept from its last write, and needs no read of the kanban for this check."""
    statuses = sorted(set(statuses))
    condition = "attribute_exists(PK)" + "".join(f" AND contains(statusValues, :s{i})" for i in range(len(statuses)))
    values: dict[str, Any] = {f":s{i}": status for i, status in enumerate(statuses)}
    if unique:
        condition += " AND uniqueFieldIds = :unique"
        values[":unique"] = unique
    elif unique is not None:
        condition += " AND attribute_not_exists(uniqueFieldIds)"
    return dynamo.Write(
        dynamo.condition_check(keys.account_pk(account_id), keys.kanban_sk(kanban_id), condition, values=values),
        Conflict(f"kanban {kanban_id}, its status {', '.join(map(repr, statuses))} or its unique fields "
                 "changed meanwhile; retry"),
    )


def _count(account_id: str, kanban_id: str, changes: dict[str, int]) -> dynamo.Write:
    names = {f"#c{i}": attr for i, attr in enumerate(changes)}
    values = {f":d{i}": delta for i, delta in enumerate(changes.values())}
    expression = "ADD " + ", ".join(f"#c{i} :d{i}" for i in range(len(changes)))
    return dynamo.Write(dynamo.update(
        *keys.kanban_counts_key(account_id, kanban_id), expression, names=names, values=values,
    ))


def _channel_pk(record: Record) -> str:
    assert record.channel_id is not None
    return keys.channel_pk(record.account_id, record.kanban_id, record.channel_id)


def _lock(pk: str, sk: str, record: Record, taken: Conflict,
          taken_by: Callable[[dict[str, Any]], Conflict] | None = None) -> dynamo.Write:
    """A lock item naming the record (a channelId's, a unique value's): a conditional put that fails
    with `taken` when another record holds it (or with `taken_by(the lock as it stood)`, if given)."""
    item = {"PK": pk, "SK": sk, "recordId": record.record_id, "kanbanId": record.kanban_id}
    return dynamo.Write(
        dynamo.put(item, "attribute_not_exists(PK) OR recordId = :me", values={":me": record.record_id}), taken,
        taken_by,
    )


def _channel_taken(lock: dict[str, Any]) -> Conflict:
    return ChannelTaken(holder=lock.get("recordId"))


def _unique_pk(record: Record, entry: IndexEntry) -> str:
    return keys.unique_value_pk(record.account_id, record.kanban_id, *entry)


def _lock_changes(record: Record, held: list[IndexEntry], unique: list[IndexEntry]) -> list[dynamo.Write]:
    """Take the locks of the unique values the record gets, release those of the values it gives up."""
    takes = [_lock(_unique_pk(record, e), keys.UNIQUE_SK, record, UniqueValueTaken(*e))
             for e in unique if e not in held]
    releases = [dynamo.Write(dynamo.delete(_unique_pk(record, e), keys.UNIQUE_SK)) for e in held if e not in unique]
    return takes + releases


def _run(writes: list[dynamo.Write]) -> None:
    if len(writes) > _MAX_TRANSACTION_ITEMS:
        raise ValidationFailed(
            "this change touches too many assignees and indexed values at once; split it into smaller updates"
        )
    dynamo.transact(writes)


def _own_writes(new: NewRecord) -> list[dynamo.Write]:
    """A new record's items: its channelId's and unique values' locks, the record, its children."""
    record = new.record
    writes = []
    if record.channel_id is not None:
        writes.append(_lock(_channel_pk(record), keys.CHANNEL_SK, record, ChannelTaken(), _channel_taken))
    writes += _lock_changes(record, [], new.unique)
    item = _record_item(record, new.entries, new.unique, new.kanban)
    writes.append(dynamo.Write(dynamo.put(item, "attribute_not_exists(PK)"), Conflict("record id collision")))
    writes += [dynamo.Write(dynamo.put(child)) for child in _children(record, new.entries).values()]
    return writes


def create_record(new: NewRecord) -> None:
    """Write a new record; raises ChannelTaken (naming the record that holds it) when its channelId
    already has a record in the kanban, UniqueValueTaken when another record holds one of its unique values."""
    create_records([new])


def create_records(news: Sequence[NewRecord]) -> None:
    """Write new records in one transaction (a group of creation_groups), each kanban's check and
    counters once for all its records. Raises the Conflict of the first write refused (ChannelTaken,
    UniqueValueTaken, a changed kanban), and then nothing is written."""
    by_kanban: dict[str, list[NewRecord]] = {}
    for new in news:
        by_kanban.setdefault(new.record.kanban_id, []).append(new)
    writes = [_kanban_accepts(group[0].kanban, (n.record.status for n in group)) for group in by_kanban.values()]
    for new in news:
        writes += _own_writes(new)
    for group in by_kanban.values():
        counts = Counter(keys.status_count_attribute(n.record.status) for n in group)
        writes.append(_count(group[0].record.account_id, group[0].record.kanban_id, {"total": len(group), **counts}))
    _run(writes)


def creation_groups(news: Sequence[NewRecord]) -> list[range]:
    """`news` cut, in order, into runs that create_records can write in one transaction each: within
    DynamoDB's item and size limits, and no lock item twice (two creates of one channelId or unique
    value go to different runs, and the second is refused as it would be on its own)."""
    groups: list[range] = []
    start, items, size, kanbans, taken = 0, 0, 0, set(), set()
    for position, new in enumerate(news):
        own = _own_writes(new)
        own_keys = {(w.operation["Put"]["Item"]["PK"]["S"], w.operation["Put"]["Item"]["SK"]["S"]) for w in own}
        own_size = sum(len(json.dumps(w.operation)) for w in own)
        kanban_items = 0 if new.record.kanban_id in kanbans else 2  # its check and its counters
        if position > start and (items + len(own) + kanban_items > _MAX_TRANSACTION_ITEMS
                                 or size + own_size > _MAX_TRANSACTION_JSON_BYTES or own_keys & taken):
            groups.append(range(start, position))
            start, items, size, kanbans, taken = position, 0, 0, set(), set()
            kanban_items = 2
        items += len(own) + kanban_items
        size += own_size
        kanbans.add(new.record.kanban_id)
        taken |= own_keys
    if start < len(news):
        groups.append(range(start, len(news)))
    return groups


@dataclass(frozen=True)
class StoredRecord:
    """A live record as one read of its partition found it: the record, its item, the sort keys of its
    children (assignment and field-value entries) and the unique values it holds locks of."""

    record: Record
    item: dict[str, Any]
    children: frozenset[str]
    held: list[IndexEntry]


def _stored_items(account_id: str, record_id: str) -> StoredRecord | None:
    items = dynamo.query_all(keys.record_pk(account_id, record_id))
    item = next((i for i in items if i["SK"] == keys.RECORD_SK), None)
    if item is None:
        return None
    return StoredRecord(record_from_item(item), item, frozenset(i["SK"] for i in items if _is_child(i["SK"])),
                        [(field, value) for field, value in item.get("uniqueValues", [])])


def keeps_kanban_unique_fields(stored: StoredRecord) -> bool:
    """Whether the record keeps its kanban's unique fields (records written before it did do not)."""
    return stored.item.get(_KANBAN_UNIQUE_FIELDS) is not None


def find_stored_record(account_id: str, record_id: str) -> StoredRecord | None:
    """A live record with its children, in one strongly consistent Query of its partition (what an
    update or a delete needs to know); None if it does not exist."""
    return _stored_items(account_id, record_id)


def _stored(record: Record) -> tuple[frozenset[str], list[IndexEntry]]:
    """The sort keys of the record's stored children and the unique values it holds locks of."""
    stored = _stored_items(record.account_id, record.record_id)
    return (stored.children, stored.held) if stored else (frozenset(), [])


def _version_matches(record: Record) -> dict[str, Any]:
    return {"condition": "version = :v", "values": {":v": record.version}}


def update_record(stored: StoredRecord, new: Record, kanban: Kanban | None, entries: list[IndexEntry] | None,
                  unique: list[IndexEntry] | None) -> None:
    """Replace a record as `stored` read it (at its version); raises ConcurrentUpdate if it changed
    since, UniqueValueTaken when another record holds one of its new `unique` values. The kanban as
    read must still have the record's status and the same unique fields, checked in the same
    transaction: the locks taken and released follow from those fields. A change that leaves the
    custom fields alone (`kanban`, `entries` and `unique` None; only when keeps_kanban_unique_fields)
    keeps the record's field-value entries, search values and locks as stored, and checks that the
    kanban still has its status and the unique fields it had at the record's last write with the kanban
    read: KanbanChanged if not (then write again with the kanban read, to take or release locks)."""
    old = stored.record
    pk = keys.record_pk(new.account_id, new.record_id)
    current = stored.children
    keep_values = entries is None
    if keep_values:
        desired = _children(new, None) | {sk: {} for sk in current if sk.startswith(keys.FIELD_VALUE_PREFIX)}
        item = _record_item(new, [], stored.held, None, stored.item)
        writes_locks: list[dynamo.Write] = []
        check = _kanban_has(new.account_id, new.kanban_id, [new.status], stored.item[_KANBAN_UNIQUE_FIELDS])
        check = dynamo.Write(check.operation, KanbanChanged(f"kanban {new.kanban_id} changed meanwhile"))
    else:
        assert kanban is not None and unique is not None
        desired = _children(new, entries)
        item = _record_item(new, entries, unique, kanban)
        writes_locks = _lock_changes(new, stored.held, unique)
        check = _kanban_accepts(kanban, [new.status])
    status_changed = new.status != old.status
    stale = ConcurrentUpdate(f"record {old.record_id} was changed concurrently")
    writes = [dynamo.Write(dynamo.put(item, **_version_matches(old)), stale)]
    writes += writes_locks
    writes.append(check)
    # Assignment entries carry the status in their index keys, so a status change rewrites them all.
    writes += [
        dynamo.Write(dynamo.put(child)) for sk, child in desired.items()
        if sk.startswith(keys.ASSIGNMENT_PREFIX) and (sk not in current or status_changed)
        or sk.startswith(keys.FIELD_VALUE_PREFIX) and sk not in current
    ]
    writes += [dynamo.Write(dynamo.delete(pk, sk)) for sk in current - desired.keys()]
    if status_changed:
        writes.append(_count(new.account_id, new.kanban_id, {keys.status_count_attribute(old.status): -1,
                                   keys.status_count_attribute(new.status): 1}))
    _run(writes)


def _trash_items(item: dict[str, Any], version: int, deleted_at: int, deleted_by: str,
                 expires_at: int) -> list[dict[str, Any]]:
    """A deleted record's trash item (from its stored item) and its trash entries, one per assignee:
    in the trash's partitions of the list indexes, sorted by deletion, purged by TTL at `expires_at`."""
    account_id, record_id, kanban_id, status = item["accountId"], item["recordId"], item["kanbanId"], item["status"]
    pk = keys.record_pk(account_id, record_id)
    deleted = keys.created_sort_key(deleted_at, record_id)
    trash = {
        "PK": pk, "SK": keys.TRASH_SK, **keys.record_list_keys(account_id, kanban_id, status, trashed=True),
        LIST_SORT_KEY: deleted, **{name: item[name] for name in _RECORD_ATTRIBUTES if name in item},
        "version": version, "deletedAt": deleted_at, "deletedBy": deleted_by, "expiresAt": expires_at,
    }
    entries = [
        {"PK": pk, "SK": keys.trash_assignment_sk(user_id), LIST_SORT_KEY: deleted, "recordId": record_id,
         "userId": user_id, "kanbanId": kanban_id,
         **keys.assignment_list_keys(account_id, user_id, kanban_id, status, trashed=True), "expiresAt": expires_at}
        for user_id in item.get("assignedUserIds", [])
    ]
    return [trash, *entries]


def delete_record(stored: StoredRecord, deleted_at: int, deleted_by: str, expires_at: int) -> TrashedRecord:
    """Move a record, as `stored` read it (at its version), to the trash in one transaction; raises
    ConcurrentUpdate if it changed or went since. Returns it as trashed."""
    record, item, children, held = stored.record, stored.item, stored.children, stored.held
    pk = keys.record_pk(record.account_id, record.record_id)
    stale = ConcurrentUpdate(f"record {record.record_id} was changed concurrently")
    writes = [dynamo.Write(dynamo.delete(pk, keys.RECORD_SK, **_version_matches(record)), stale)]
    writes += [dynamo.Write(dynamo.delete(pk, sk)) for sk in children]
    writes += _lock_changes(record, held, [])
    if record.channel_id is not None:
        writes.append(dynamo.Write(dynamo.delete(_channel_pk(record), keys.CHANNEL_SK)))
    counts = {"total": -1, keys.status_count_attribute(record.status): -1}
    writes.append(_count(record.account_id, record.kanban_id, counts))
    trash = _trash_items(item, record.version + 1, deleted_at, deleted_by, expires_at)
    writes += [dynamo.Write(dynamo.put(t)) for t in trash]
    _run(writes)
    return trashed_from_item(trash[0])


def find_trashed(account_id: str, record_id: str) -> TrashedRecord | None:
    item = dynamo.get(keys.record_pk(account_id, record_id), keys.TRASH_SK)
    return trashed_from_item(item) if item else None


@dataclass(frozen=True)
class StoredTrash:
    """A trashed record as one read of its partition found it, with the sort keys of its trash entries."""

    trashed: TrashedRecord
    entries: frozenset[str]


def find_stored_trash(account_id: str, record_id: str) -> StoredTrash | None:
    """A trashed record with its trash entries, in one strongly consistent Query (what a restore or a
    purge needs to know); None if it is not in the trash."""
    items = dynamo.query_all(keys.record_pk(account_id, record_id), sort_prefix=keys.TRASH_ITEMS_PREFIX)
    trash = next((i for i in items if i["SK"] == keys.TRASH_SK), None)
    if trash is None:
        return None
    return StoredTrash(trashed_from_item(trash),
                       frozenset(i["SK"] for i in items if i["SK"].startswith(keys.TRASH_ASSIGNMENT_PREFIX)))


def _trash_goes(stored: StoredTrash) -> list[dynamo.Write]:
    """Delete the trash item at its version (ConcurrentUpdate if restored, purged or changed since) and
    its trash entries."""
    trashed = stored.trashed
    pk = keys.record_pk(trashed.account_id, trashed.record_id)
    stale = ConcurrentUpdate(f"record {trashed.record_id} was restored or purged concurrently")
    return [
        dynamo.Write(dynamo.delete(pk, keys.TRASH_SK, "version = :v", values={":v": trashed.version}), stale),
        *(dynamo.Write(dynamo.delete(pk, sk)) for sk in stored.entries),
    ]


def restore_record(trashed: StoredTrash, record: Record, kanban: Kanban, entries: list[IndexEntry],
                   unique: list[IndexEntry]) -> None:
    """Bring a trashed record back as `record`, in one transaction: the trash item and entries go, the
    record and its entries come back, it takes its channelId's and unique values' locks again (raises
    ChannelTaken or UniqueValueTaken when another record holds one), the counters go up. The kanban as
    read must still have its status and the same unique fields (Conflict otherwise)."""
    writes = _trash_goes(trashed)
    writes += _own_writes(NewRecord(record, kanban, entries, unique))
    writes.append(_kanban_accepts(kanban, [record.status]))
    writes.append(_count(record.account_id, record.kanban_id,
                         {"total": 1, keys.status_count_attribute(record.status): 1}))
    _run(writes)


def purge_trashed(trashed: StoredTrash) -> None:
    """Delete a trashed record for good (its trash item at its version, and its trash entries)."""
    _run(_trash_goes(trashed))


def channel_holder(account_id: str, kanban_id: str, channel_id: str) -> str | None:
    """The id of the record holding a channelId's lock in a kanban, if any."""
    lock = dynamo.get(keys.channel_pk(account_id, kanban_id, channel_id), keys.CHANNEL_SK)
    return lock["recordId"] if lock else None


def find_record(account_id: str, record_id: str) -> Record | None:
    item = dynamo.get(keys.record_pk(account_id, record_id), keys.RECORD_SK)
    return record_from_item(item) if item else None


def get_record(account_id: str, record_id: str) -> Record:
    record = find_record(account_id, record_id)
    if record is None:
        raise NotFound(f"record {record_id} not found")
    return record


def find_channel_record(account_id: str, kanban_id: str, channel_id: str) -> Record | None:
    lock = dynamo.get(keys.channel_pk(account_id, kanban_id, channel_id), keys.CHANNEL_SK)
    return find_record(account_id, lock["recordId"]) if lock else None


def unique_value_holders(account_id: str, kanban_id: str, entries: list[IndexEntry]) -> dict[IndexEntry, str]:
    """The records holding the locks of these unique values (values nobody holds are left out)."""
    lock_keys = {(keys.unique_value_pk(account_id, kanban_id, *e), keys.UNIQUE_SK): e for e in entries}
    return {lock_keys[k]: lock["recordId"] for k, lock in dynamo.batch_get(lock_keys).items()}


def hold_unique_values(record: Record, unique: list[IndexEntry]) -> None:
    """Take the locks of a stored record's values of fields just made unique, in one transaction with
    the record, whose version goes up: a write that read the record before fails and reads it again.
    Raises UniqueValueTaken when another record holds one, ConcurrentUpdate if the record changed."""
    _, held = _stored(record)
    holds = held + [e for e in unique if e not in held]
    if holds == held:
        return
    _run([
        dynamo.Write(dynamo.update(
            keys.record_pk(record.account_id, record.record_id), keys.RECORD_SK,
            "SET uniqueValues = :held, version = :next", "version = :v",
            values={":held": [list(e) for e in holds], ":next": record.version + 1, ":v": record.version},
        ), ConcurrentUpdate(f"record {record.record_id} was changed concurrently")),
        *_lock_changes(record, held, holds),
    ])


def _list_page(
    account_id: str, scope: keys.ListScope, *, kanban_id: str | None, status: str | None, user_id: str | None,
    limit: int, cursor: dict[str, Any] | None, allowed_kanbans: frozenset[str] | None,
    read: Callable[[str, list[str]], dict[str, Record]],
) -> Page:
    """Newest first, only records on `allowed_kanbans` (None: every kanban). Index entries are
    filtered by their kanban before any record is read; they lag writes slightly, so each hit is
    re-read from the table (`read`: by ids) and kept only if the current record still matches."""

    def allowed(kanban: str) -> bool:
        return allowed_kanbans is None or kanban in allowed_kanbans

    def matches(record: Record) -> bool:
        return (
            (kanban_id is None or record.kanban_id == kanban_id)
            and (status is None or record.status == status)
            and (user_id is None or user_id in record.assigned_user_ids)
            and allowed(record.kanban_id)
        )

    found: list[Record] = []
    for _ in range(_MAX_LIST_ROUNDS):
        entries, cursor = dynamo.query(
            index=scope.index, partition_attribute=f"{scope.index}PK", partition=scope.partition,
            limit=limit - len(found), start_key=cursor, newest_first=True,
        )
        wanted = [e["recordId"] for e in entries if allowed(e["kanbanId"])]
        current = read(account_id, wanted)
        found += [r for i in wanted if (r := current.get(i)) is not None and matches(r)]
        if cursor is None or len(found) >= limit:
            break
    return Page(items=tuple(found), cursor=cursor)


def list_records(
    account_id: str,
    *,
    kanban_id: str | None,
    status: str | None,
    user_id: str | None,
    limit: int,
    cursor: dict[str, Any] | None,
    allowed_kanbans: frozenset[str] | None,
    trashed: bool = False,
) -> Page:
    """Records newest first (with `trashed`, those in the trash, as TrashedRecord, newest deletion
    first), only those on `allowed_kanbans` (None: every kanban)."""
    scope = keys.list_scope(account_id, kanban_id, status, user_id, trashed=trashed)
    return _list_page(account_id, scope, kanban_id=kanban_id, status=status, user_id=user_id, limit=limit,
                      cursor=cursor, allowed_kanbans=allowed_kanbans,
                      read=get_trashed_records if trashed else get_records)


def get_records(account_id: str, record_ids: list[str]) -> dict[str, Record]:
    """Current records by id (strongly consistent); ids that no longer exist are left out."""
    items = dynamo.batch_get((keys.record_pk(account_id, r), keys.RECORD_SK) for r in record_ids)
    return {item["recordId"]: record_from_item(item) for item in items.values()}


def get_trashed_records(account_id: str, record_ids: list[str]) -> dict[str, Record]:
    """Trashed records by id (strongly consistent); ids not in the trash (any more) are left out."""
    items = dynamo.batch_get((keys.record_pk(account_id, r), keys.TRASH_SK) for r in record_ids)
    return {item["recordId"]: trashed_from_item(item) for item in items.values()}


def field_value_page(account_id: str, field_id: str, normalized_value: str, offset: int, limit: int,
                     count_at_most: int) -> tuple[list[str], int, bool]:
    """Ids of one page of the records whose field holds the value (newest first), how many there are,
    and whether that number is capped. Reads the entries up to the page's end, then counts those after
    it up to `count_at_most` + 1: past that the total is a lower bound (capped), so a lookup reads its
    page plus at most that many more, whatever the number of matches. A field belongs to one kanban,
    so every entry of its partition is of that kanban: access is decided once for the field."""
    partition = {"index": FIELD_VALUE_INDEX, "partition_attribute": FIELD_VALUE_PK,
                 "partition": keys.field_value_key(account_id, field_id, normalized_value)}
    wanted = offset + limit
    ids: list[str] = []
    start: dict[str, Any] | None = None
    while len(ids) < wanted:
        entries, start = dynamo.query(**partition, start_key=start, newest_first=True, limit=wanted - len(ids))
        ids += [e["recordId"] for e in entries]
        if start is None:
            break
    more = 0 if start is None else dynamo.count(**partition, start_key=start, newest_first=True,
                                                 at_most=count_at_most + 1)
    capped = more > count_at_most
    return ids[offset:offset + limit], len(ids) + min(more, count_at_most), capped


def account_records(
    account_id: str, page_size: int = 100, kanban_id: str | None = None
) -> Iterator[tuple[Record, list[str]]]:
    """Every record of an account, or of one of its kanbans, with its search values (operator tools
    such as reindexing; making a field unique). Read from a list index: a record written within the
    index's propagation delay (normally well under a second) may be missing."""
    scope = keys.list_scope(account_id, kanban_id, None, None)
    start: dict[str, Any] | None = None
    while True:
        entries, start = dynamo.query(index=scope.index, partition_attribute=f"{scope.index}PK",
                                      partition=scope.partition, limit=page_size, start_key=start)
        items = dynamo.batch_get((keys.record_pk(account_id, e["recordId"]), keys.RECORD_SK) for e in entries)
        for item in items.values():
            yield record_from_item(item), item.get("searchValues", [])
        if start is None:
            return


def record_partition_item(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """An item of a record's partition (the record, its trash item, its entries) from a stream image
    (DynamoDB JSON); None for other items."""
    if not image:
        return None
    item = dynamo.deserialize(image)
    return item if str(item.get("PK", "")).startswith(keys.PARTITION_PREFIXES["record"]) else None


def record_from_stream_image(image: dict[str, Any]) -> tuple[Record, list[str]] | None:
    """The record and its search values in a stream image (DynamoDB JSON), or None for other items."""
    item = dynamo.deserialize(image)
    if item.get("SK") != keys.RECORD_SK or not str(item.get("PK", "")).startswith(keys.PARTITION_PREFIXES["record"]):
        return None
    return record_from_item(item), item.get("searchValues", [])
