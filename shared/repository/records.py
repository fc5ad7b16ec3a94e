"""Records, written atomically with their assignment entries, field-value index entries, channel lock
and the kanban's status counters."""

from collections.abc import Iterator
from typing import Any

from shared.errors import ConcurrentUpdate, Conflict, NotFound, ValidationFailed
from shared.models.domain import Page, Record
from shared.repository import dynamo, keys
from shared.repository.table import FIELD_VALUE_INDEX, FIELD_VALUE_PK, FIELD_VALUE_SK, LIST_SORT_KEY

# One normalized value of an indexed custom field: (field id, normalized value).
IndexEntry = tuple[str, str]
_MAX_TRANSACTION_ITEMS = 100
_MAX_LIST_ROUNDS = 10


class ChannelTaken(Conflict):
    """The kanban already has a record for this channelId."""


def _record_item(record: Record, entries: list[IndexEntry]) -> dict[str, Any]:
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
        "searchValues": [value for _, value in entries],
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


def _children(record: Record, entries: list[IndexEntry]) -> dict[str, dict[str, Any]]:
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
    for field_id, value in entries:
        sk = keys.field_value_sk(field_id, value)
        children[sk] = {
            "PK": pk, "SK": sk, "recordId": record.record_id, "fieldId": field_id, "kanbanId": record.kanban_id,
            FIELD_VALUE_PK: keys.field_value_key(record.account_id, field_id, value),
            FIELD_VALUE_SK: created,
        }
    return children


def _kanban_accepts(record: Record) -> dynamo.Write:
    """The kanban still exists and still has the record's status, checked in the same transaction."""
    return dynamo.Write(
        dynamo.condition_check(
            keys.account_pk(record.account_id), keys.kanban_sk(record.kanban_id),
            "attribute_exists(PK) AND contains(statusValues, :status)", values={":status": record.status},
        ),
        Conflict(f"kanban {record.kanban_id} or its status {record.status!r} changed meanwhile; retry"),
    )


def _count(record: Record, changes: dict[str, int]) -> dynamo.Write:
    names = {f"#c{i}": attr for i, attr in enumerate(changes)}
    values = {f":d{i}": delta for i, delta in enumerate(changes.values())}
    expression = "ADD " + ", ".join(f"#c{i} :d{i}" for i in range(len(changes)))
    return dynamo.Write(dynamo.update(
        *keys.kanban_counts_key(record.account_id, record.kanban_id), expression, names=names, values=values,
    ))


def _channel_pk(record: Record) -> str:
    assert record.channel_id is not None
    return keys.channel_pk(record.account_id, record.kanban_id, record.channel_id)


def _run(writes: list[dynamo.Write]) -> None:
    if len(writes) > _MAX_TRANSACTION_ITEMS:
        raise ValidationFailed(
            "this change touches too many assignees and indexed values at once; split it into smaller updates"
        )
    dynamo.transact(writes)


def create_record(record: Record, entries: list[IndexEntry]) -> None:
    """Write a new record; raises ChannelTaken when its channelId already has a record in the kanban."""
    writes = [_kanban_accepts(record)]
    if record.channel_id is not None:
        lock = {"PK": _channel_pk(record), "SK": keys.CHANNEL_SK, "recordId": record.record_id}
        writes.append(dynamo.Write(dynamo.put(lock, "attribute_not_exists(PK)"), ChannelTaken("channel taken")))
    writes.append(dynamo.Write(dynamo.put(_record_item(record, entries), "attribute_not_exists(PK)"),
                               Conflict("record id collision")))
    writes += [dynamo.Write(dynamo.put(child)) for child in _children(record, entries).values()]
    writes.append(_count(record, {"total": 1, keys.status_count_attribute(record.status): 1}))
    _run(writes)


def _current_children(record: Record) -> set[str]:
    items = dynamo.query_all(keys.record_pk(record.account_id, record.record_id))
    return {i["SK"] for i in items if i["SK"] != keys.RECORD_SK}


def _version_matches(record: Record) -> dict[str, Any]:
    return {"condition": "version = :v", "values": {":v": record.version}}


def update_record(old: Record, new: Record, entries: list[IndexEntry]) -> None:
    """Replace a record written at old.version; raises ConcurrentUpdate if it changed since."""
    pk = keys.record_pk(new.account_id, new.record_id)
    current = _current_children(old)
    desired = _children(new, entries)
    status_changed = new.status != old.status
    stale = ConcurrentUpdate(f"record {old.record_id} was changed concurrently")
    writes = [dynamo.Write(dynamo.put(_record_item(new, entries), **_version_matches(old)), stale)]
    if status_changed:
        writes.append(_kanban_accepts(new))
    # Assignment entries carry the status in their index keys, so a status change rewrites them all.
    writes += [
        dynamo.Write(dynamo.put(item)) for sk, item in desired.items()
        if sk not in current or (status_changed and sk.startswith(keys.ASSIGNMENT_PREFIX))
    ]
    writes += [dynamo.Write(dynamo.delete(pk, sk)) for sk in current - desired.keys()]
    if status_changed:
        writes.append(_count(new, {keys.status_count_attribute(old.status): -1,
                                   keys.status_count_attribute(new.status): 1}))
    _run(writes)


def delete_record(record: Record) -> None:
    pk = keys.record_pk(record.account_id, record.record_id)
    stale = ConcurrentUpdate(f"record {record.record_id} was changed concurrently")
    writes = [dynamo.Write(dynamo.delete(pk, keys.RECORD_SK, **_version_matches(record)), stale)]
    writes += [dynamo.Write(dynamo.delete(pk, sk)) for sk in _current_children(record)]
    if record.channel_id is not None:
        writes.append(dynamo.Write(dynamo.delete(_channel_pk(record), keys.CHANNEL_SK)))
    writes.append(_count(record, {"total": -1, keys.status_count_attribute(record.status): -1}))
    _run(writes)


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


def list_records(
    account_id: str,
    *,
    kanban_id: str | None,
    status: str | None,
    user_id: str | None,
    limit: int,
    cursor: dict[str, Any] | None,
    allowed_kanbans: frozenset[str] | None,
) -> Page:
    """Newest first, only records on `allowed_kanbans` (None: every kanban). Index entries are
    filtered by their kanban before any record is read; they lag writes slightly, so each hit is
    re-read from the table and kept only if the current record still matches."""
    scope = keys.list_scope(account_id, kanban_id, status, user_id)

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
        current = get_records(account_id, wanted)
        found += [r for i in wanted if (r := current.get(i)) is not None and matches(r)]
        if cursor is None or len(found) >= limit:
            break
    return Page(items=tuple(found), cursor=cursor)


def get_records(account_id: str, record_ids: list[str]) -> dict[str, Record]:
    """Current records by id (strongly consistent); ids that no longer exist are left out."""
    items = dynamo.batch_get((keys.record_pk(account_id, r), keys.RECORD_SK) for r in record_ids)
    return {item["recordId"]: record_from_item(item) for item in items.values()}


def field_value_page(account_id: str, field_id: str, normalized_value: str, allowed_kanbans: frozenset[str] | None,
                     offset: int, limit: int) -> tuple[list[str], int]:
    """Ids of one page of the records whose field holds the value (newest first) and how many there are
    in all. Without a kanban restriction only the page's entries are read and a COUNT query gives the
    total; a restriction needs every entry's kanban."""
    partition = {"index": FIELD_VALUE_INDEX, "partition_attribute": FIELD_VALUE_PK,
                 "partition": keys.field_value_key(account_id, field_id, normalized_value)}
    wanted = offset + limit if allowed_kanbans is None else None
    ids: list[str] = []
    start: dict[str, Any] | None = None
    while wanted is None or len(ids) < wanted:
        entries, start = dynamo.query(**partition, start_key=start, newest_first=True,
                                      limit=wanted - len(ids) if wanted else None)
        ids += [e["recordId"] for e in entries if allowed_kanbans is None or e["kanbanId"] in allowed_kanbans]
        if start is None:
            break
    total = dynamo.count(**partition) if allowed_kanbans is None else len(ids)
    return ids[offset:offset + limit], total


def account_records(account_id: str, page_size: int = 100) -> Iterator[tuple[Record, list[str]]]:
    """Every record of an account with its search values (operator tools such as reindexing)."""
    scope = keys.list_scope(account_id, None, None, None)
    start: dict[str, Any] | None = None
    while True:
        entries, start = dynamo.query(index=scope.index, partition_attribute=f"{scope.index}PK",
                                      partition=scope.partition, limit=page_size, start_key=start)
        items = dynamo.batch_get((keys.record_pk(account_id, e["recordId"]), keys.RECORD_SK) for e in entries)
        for item in items.values():
            yield record_from_item(item), item.get("searchValues", [])
        if start is None:
            return


def record_from_stream_image(image: dict[str, Any]) -> tuple[Record, list[str]] | None:
    """The record and its search values in a stream image (DynamoDB JSON), or None for other items."""
    item = dynamo.deserialize(image)
    if item.get("SK") != keys.RECORD_SK or not str(item.get("PK", "")).startswith(keys.PARTITION_PREFIXES["record"]):
        return None
    return record_from_item(item), item.get("searchValues", [])
