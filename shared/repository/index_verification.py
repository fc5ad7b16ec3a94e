"""What checking the search index against the table reads and keeps: records' versions a page at a
time, the changes the search engine refused (kept for repair), and the verifier's resume point."""

from collections.abc import Sequence
from typing import Any

from shared.ids import now_ms
from shared.models.domain import Record
from shared.repository import dynamo, keys
from shared.repository.records import record_from_item

_WRITES_PER_TRANSACTION = 25


def _projected_records(account_id: str, record_ids: Sequence[str]) -> dict[str, int]:
    """Record id -> version of the records that exist (strongly consistent; up to 100 ids), reading
    only those two attributes."""
    items = dynamo.batch_get(((keys.record_pk(account_id, r), keys.RECORD_SK) for r in record_ids),
                             attributes=("recordId", "version"))
    return {item["recordId"]: item["version"] for item in items.values()}


def record_versions(account_id: str, start: dict[str, Any] | None, limit: int) -> tuple[dict[str, int],
                                                                                         dict[str, Any] | None]:
    """One page of an account's records, from its list index: record id -> version, and where the next
    page starts (None at the end)."""
    scope = keys.list_scope(account_id, None, None, None)
    entries, start = dynamo.query(index=scope.index, partition_attribute=f"{scope.index}PK",
                                  partition=scope.partition, limit=limit, start_key=start)
    return _projected_records(account_id, [e["recordId"] for e in entries]), start


def existing_record_ids(account_id: str, record_ids: Sequence[str]) -> set[str]:
    return set(_projected_records(account_id, record_ids))


def indexable_records(account_id: str, record_ids: Sequence[str]) -> list[tuple[Record, list[str]]]:
    """The records that exist, with their search values (up to 100 ids)."""
    items = dynamo.batch_get((keys.record_pk(account_id, r), keys.RECORD_SK) for r in record_ids)
    return [(record_from_item(item), item.get("searchValues", [])) for item in items.values()]


def _transact_in_chunks(operations: list[dict[str, Any]]) -> None:
    for start in range(0, len(operations), _WRITES_PER_TRANSACTION):
        dynamo.transact([dynamo.Write(op) for op in operations[start:start + _WRITES_PER_TRANSACTION]])


def note_refused(records: Sequence[Record]) -> None:
    """Keep the records whose latest change the search engine refused, for the verifier to repair."""
    at = now_ms()
    _transact_in_chunks([
        dynamo.put({"PK": pk, "SK": sk, "recordId": r.record_id, "version": r.version, "refusedAt": at})
        for r in records for pk, sk in [keys.refused_change_key(r.account_id, r.record_id)]
    ])


def refused_page(account_id: str, start: dict[str, Any] | None, limit: int) -> tuple[list[str],
                                                                                      dict[str, Any] | None]:
    """One page of the ids of an account's refused records, and where the next page starts."""
    items, start = dynamo.query(partition=keys.refused_changes_pk(account_id), limit=limit, start_key=start)
    return [item["recordId"] for item in items], start


def clear_refused(account_id: str, record_ids: Sequence[str]) -> None:
    _transact_in_chunks([dynamo.delete(*keys.refused_change_key(account_id, r)) for r in record_ids])


def verifier_cursor() -> dict[str, Any] | None:
    """Where the last verifier run stopped, as it saved it; None to start from the first account."""
    item = dynamo.get(*keys.VERIFIER_CURSOR_KEY)
    return item.get("position") if item else None


def save_verifier_cursor(position: dict[str, Any] | None) -> None:
    pk, sk = keys.VERIFIER_CURSOR_KEY
    if position is None:
        _transact_in_chunks([dynamo.delete(pk, sk)])
    else:
        _transact_in_chunks([dynamo.put({"PK": pk, "SK": sk, "position": position})])
