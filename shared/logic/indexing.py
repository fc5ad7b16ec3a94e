"""Keeping the search index in step with the table: stream changes as they come, and full rebuilds."""

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from shared.ids import now_ms
from shared.models.domain import Record
from shared.repository import accounts, index_verification, kanbans, records
from shared.search.ports import IndexWrites, RebuildableIndex, SearchUnavailable, document_id

_REINDEX_BATCH = 100
# How often a batch offers the engine a document it refuses before it is kept for repair instead.
REFUSAL_ATTEMPTS = 3
Progress = Callable[[str, int, int], None]  # (phase, records done, records in all)


class IndexingFailed(Exception):
    """The index could not take a change; the stream delivers it again."""


# One stream change: (event name, new image, old image), images in DynamoDB JSON.
Change = tuple[str, dict[str, Any] | None, dict[str, Any] | None]


def apply_changes(
    index: IndexWrites, changes: Sequence[Change],
    note_refused: Callable[[Sequence[Record]], None] = index_verification.note_refused,
) -> set[int]:
    """Bring the index in step with a batch of stream changes, with one write per kind of change;
    returns the positions of the changes that failed (the stream delivers them again).

    Per record, whatever order the changes come in: a removal wins (record ids are never reused),
    otherwise the newest version is written (and the index never lets it replace a newer one).
    Items other than records are not indexed.

    A document the engine refuses is offered REFUSAL_ATTEMPTS times, then noted for the index
    verifier to repair and counted as done: redelivering it would hold back everything after it in
    its shard. An unreachable engine fails the whole batch, so an outage loses nothing.
    """
    positions: dict[tuple[str, str], list[int]] = defaultdict(list)
    newest: dict[tuple[str, str], tuple[Record, list[str]]] = {}
    removed: dict[tuple[str, str], Record] = {}
    for position, (event_name, new_image, old_image) in enumerate(changes):
        image = old_image if event_name == "REMOVE" else new_image
        parsed = records.record_from_stream_image(image) if image else None
        if parsed is None:
            continue
        record = parsed[0]
        key = (record.account_id, record.record_id)
        positions[key].append(position)
        if event_name == "REMOVE":
            removed[key] = record
        elif key not in newest or record.version > newest[key][0].version:
            newest[key] = parsed
    pending = [parsed for key, parsed in newest.items() if key not in removed]
    try:
        if removed:
            index.delete(list(removed.values()))
        for _ in range(REFUSAL_ATTEMPTS):
            refused = set(index.upsert(pending)) if pending else set()
            pending = [(record, values) for record, values in pending if record.record_id in refused]
    except SearchUnavailable:
        return {p for record_positions in positions.values() for p in record_positions}
    if pending:
        note_refused([record for record, _ in pending])
    return set()


def _record_total() -> int:
    return sum(
        sum(kanbans.status_counts(kanban).values())
        for account_id in accounts.list_account_ids() for kanban in kanbans.all_kanbans(account_id)
    )


def _copy_all(index: RebuildableIndex, collection: str, progress: Progress, phase: str, total: int) -> set[str]:
    """Index every record of every account into the collection; returns the document ids written."""
    live: set[str] = set()
    batch: list = []

    def flush() -> None:
        if failed := index.upsert(batch, collection=collection):
            raise IndexingFailed(f"the index refused {len(failed)} records, such as {failed[0]}")
        batch.clear()
        progress(phase, len(live), max(total, len(live)))

    for account_id in accounts.list_account_ids():
        for record, values in records.account_records(account_id):
            batch.append((record, values))
            live.add(document_id(record.account_id, record.record_id))
            if len(batch) == _REINDEX_BATCH:
                flush()
    flush()
    return live


def _remove_deleted(index: RebuildableIndex, collection: str, live: set[str]) -> int:
    """Delete the documents of records the table no longer holds; returns how many."""
    candidates: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for doc_id, account_id, record_id in index.documents(collection):
        if doc_id not in live:
            candidates[account_id].append((doc_id, record_id))
    deleted: list[str] = []
    for account_id, docs in candidates.items():
        for start in range(0, len(docs), _REINDEX_BATCH):
            chunk = docs[start:start + _REINDEX_BATCH]
            existing = records.get_records(account_id, [record_id for _, record_id in chunk])
            deleted += [doc_id for doc_id, record_id in chunk if record_id not in existing]
    index.delete_documents(collection, deleted)
    return len(deleted)


def rebuild(index: RebuildableIndex, progress: Progress) -> dict[str, Any]:
    """Rebuild the index from the table into a new collection, then switch the alias to it.

    Searches keep using the old collection until the switch. A second pass afterwards picks up what
    was written during the first (the stream fed the old collection meanwhile, and may for
    write_target_settle_seconds after the switch, which the second pass waits out); then documents of
    records deleted meanwhile are removed (each checked against the table) and the old collection is
    dropped.
    """
    started = now_ms()
    previous = index.current_collection()
    target = f"{index.alias}-{started}"
    index.create_collection(target)
    total = _record_total()
    _copy_all(index, target, progress, "copy", total)
    index.switch_alias(target)
    # Writers may still hold the old collection's name for a moment; the catch-up starts after that.
    time.sleep(index.write_target_settle_seconds)
    live = _copy_all(index, target, progress, "catch up", total)
    removed = _remove_deleted(index, target, live)
    if previous is not None and previous != target:
        index.drop_collection(previous)
    return {"alias": index.alias, "collection": target, "previousCollection": previous, "records": len(live),
            "removedStale": removed}
