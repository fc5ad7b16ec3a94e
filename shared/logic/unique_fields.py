"""Making existing fields of a kanban unique: refusing duplicates, then locking the stored values.

A record write takes and releases the locks of its own unique values in its transaction
(shared.repository.records). When a field becomes unique, the values the kanban's records already
hold need their locks too; that is done here, around the kanban's write:

1. before it, every record of the kanban is read: two holding one normalized value are a 409;
2. the kanban is written with the field unique: from then on every record write takes the lock (a
   create that read the kanban before fails its check of the kanban's unique fields; an update that
   read the record before fails its version check once step 3 has locked that record);
3. every record of the kanban is read again and takes the locks of its values, in one transaction
   with the record. A lock another record holds means a duplicate was written between steps 1 and 2:
   the field is made not unique again and the answer is a 409 naming both records.

The window left open: the records are listed from a list index, which follows the table by its
propagation delay (normally well under a second). A record created within that delay before step 2
may be missed by step 3; its value then has no lock until the record's next write takes it (or is
refused with a 409, if another record took the value meanwhile).

When a field stops being unique (or is removed), its locks are not released at once: no lookup reads
the locks of a field that is not unique, and each record releases them in its next write or its delete.
"""

from collections.abc import Iterator

from shared.errors import ConcurrentUpdate, Conflict
from shared.logic import fields
from shared.models.domain import FieldDefinition, Kanban, Record
from shared.repository import kanbans, retries
from shared.repository import records as records_repository
from shared.repository.records import IndexEntry


def made_unique(old: Kanban, new: Kanban) -> tuple[FieldDefinition, ...]:
    """The existing fields an update makes unique (a new field holds no values yet)."""
    before = {f.id: f.unique for f in old.fields}
    return tuple(f for f in new.fields if f.unique and before.get(f.id) is False)


def _entries(kanban: Kanban, made: tuple[FieldDefinition, ...], record: Record) -> list[IndexEntry]:
    ids = {f.id for f in made}
    return [e for e in fields.index_entries(kanban, record.custom_fields) if e[0] in ids]


def _values(kanban: Kanban, made: tuple[FieldDefinition, ...]) -> Iterator[tuple[Record, list[IndexEntry]]]:
    """Every record of the kanban with its values of the fields `made` unique."""
    for record, _ in records_repository.account_records(kanban.account_id, kanban_id=kanban.kanban_id):
        yield record, _entries(kanban, made, record)


def _duplicate(kanban: Kanban, entry: IndexEntry, one: str, other: str) -> Conflict:
    field = kanban.field(entry[0])
    name = f" ({field.name})" if field else ""
    return Conflict(f"field {entry[0]}{name} cannot become unique: records {one} and {other} both hold the value "
                    f"{entry[1]!r}; change one of them first")


def refuse_duplicates(kanban: Kanban, made: tuple[FieldDefinition, ...]) -> None:
    """A 409 naming two records of the kanban that hold one value of a field `made` unique."""
    if not made:
        return
    holders: dict[IndexEntry, str] = {}
    for record, entries in _values(kanban, made):
        for entry in entries:
            holder = holders.setdefault(entry, record.record_id)
            if holder != record.record_id:
                raise _duplicate(kanban, entry, holder, record.record_id)


def lock_values(kanban: Kanban, made: tuple[FieldDefinition, ...]) -> None:
    """Take the locks of the stored values of the fields `made` unique (the kanban, already written
    with them unique, is `kanban`). A duplicate written meanwhile makes them not unique again: 409."""
    if not made:
        return
    for record, entries in _values(kanban, made):
        try:
            _lock(kanban, made, record, entries)
        except records_repository.UniqueValueTaken as taken:
            entry = (taken.field_id, taken.value)
            holder = records_repository.unique_value_holders(kanban.account_id, kanban.kanban_id, [entry]).get(entry)
            _revert(kanban, made)
            raise _duplicate(kanban, entry, holder or "(another)", record.record_id) from None
        except Exception:
            # Whatever stopped it (a race, a timeout, a spent budget), the field must not stay unique
            # with only some of its values locked: a retried PUT would find it unique already.
            _revert(kanban, made)
            raise


def _lock(kanban: Kanban, made: tuple[FieldDefinition, ...], record: Record, entries: list[IndexEntry]) -> None:
    """Lock one record's values, reading it again whenever a write got in between."""
    for _ in range(retries.WRITE_ATTEMPTS):
        try:
            records_repository.hold_unique_values(record, entries)
            return
        except ConcurrentUpdate:
            current = records_repository.find_record(record.account_id, record.record_id)
            if current is None:
                return  # deleted meanwhile: nothing to lock
            record, entries = current, _entries(kanban, made, current)
    raise ConcurrentUpdate(f"record {record.record_id} is being changed by many writers at once; retry")


def _revert(kanban: Kanban, made: tuple[FieldDefinition, ...]) -> None:
    ids = {f.id for f in made}
    reverted = kanban.model_copy(update={
        "fields": tuple(f.model_copy(update={"unique": False}) if f.id in ids else f for f in kanban.fields),
        "version": kanban.version + 1,
    })
    kanbans.update_kanban(kanban, reverted, make_default=False)
