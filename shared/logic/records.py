"""Record rules: defaults, custom-field validation, channel deduplication, unique values, upserts,
merges, access, and the trash (delete, restore, purge)."""

from collections.abc import Callable
from typing import Any, TypeVar

from shared.errors import ConcurrentUpdate, Conflict, NotFound, ValidationFailed
from shared.ids import new_id, now_ms
from shared.logic import access, fields, preconditions, shared_reads
from shared.models.api import CreateRecordRequest, UpdateRecordRequest
from shared.models.domain import Kanban, Listing, Principal, Record, TrashedRecord, VersionCondition
from shared.pagination import decode_token, encode_token
from shared.repository import accounts, retries
from shared.repository import records as repository

T = TypeVar("T")

# How long a deleted record stays in the trash before the table's TTL purges it.
TRASH_RETENTION_DAYS = 30
_DAY_SECONDS = 86_400


def _check_assignees(principal: Principal, user_ids: list[str]) -> tuple[str, ...]:
    unique = list(dict.fromkeys(user_ids))
    unknown = sorted(set(unique) - accounts.existing_user_ids(principal.account_id, unique)) if unique else []
    if unknown:
        raise ValidationFailed(f"assignedUserIds: {', '.join(unknown)} not users of this account")
    return tuple(unique)


def _visible_record(principal: Principal, record_id: str) -> Record:
    record = repository.get_record(principal.account_id, record_id)
    access.Scope.of(principal).require(record.kanban_id)
    return record


def _visible_stored(principal: Principal, record_id: str) -> repository.StoredRecord:
    """A record the caller may change, with its children, as one read found it (for a write)."""
    stored = repository.find_stored_record(principal.account_id, record_id)
    if stored is None:
        raise NotFound(f"record {record_id} not found")
    access.Scope.of(principal).require(stored.record.kanban_id)
    return stored


def _unique_conflict(kanban: Kanban, taken: repository.UniqueValueTaken) -> Conflict:
    """The 409 naming the field and the record that holds the value; a ConcurrentUpdate (to run again)
    if that record gave the value up meanwhile."""
    entry = (taken.field_id, taken.value)
    holder = repository.unique_value_holders(kanban.account_id, kanban.kanban_id, [entry]).get(entry)
    if holder is None:
        return ConcurrentUpdate(f"customFields.{taken.field_id}: its value was being written concurrently; retry")
    field = kanban.field(taken.field_id)
    return Conflict(
        f"customFields.{taken.field_id}{f' ({field.name})' if field else ''} is unique in kanban {kanban.kanban_id}, "
        f"and record {holder} already holds the value {taken.value!r}"
    )


def _match(kanban: Kanban, record: Record, unique: list[repository.IndexEntry]) -> Record | None:
    """The record a create is for already: the channelId's, or the holder of one of the `unique`
    values; a 409 if those are different records."""
    matched: dict[str, str] = {}  # record id -> what matched it
    by_channel = None
    if record.channel_id is not None:
        by_channel = repository.find_channel_record(record.account_id, kanban.kanban_id, record.channel_id)
        if by_channel is not None:
            matched[by_channel.record_id] = "channelId"
    for (field_id, _), holder in repository.unique_value_holders(record.account_id, kanban.kanban_id, unique).items():
        matched.setdefault(holder, f"customFields.{field_id}")
    if len(matched) > 1:
        raise Conflict("the body matches more than one record: "
                       + ", ".join(f"{record_id} by {what}" for record_id, what in matched.items()))
    if not matched:
        return None
    (record_id,) = matched
    return by_channel if by_channel is not None else repository.find_record(record.account_id, record_id)


def _apply(principal: Principal, existing: Record, request: CreateRecordRequest) -> Record:
    """An upsert's body applied to the record it matched, as PUT applies a change."""
    if request.channelId is not None and request.channelId != existing.channel_id:
        raise Conflict(f"channelId {request.channelId!r}: the matching record {existing.record_id} has channelId "
                       f"{existing.channel_id!r}")
    sent = request.model_dump(include=request.model_fields_set - {"channelId"}, exclude_none=True)
    return update_record(principal, existing.record_id, UpdateRecordRequest.model_validate(sent))


def prepare_create(principal: Principal, kanban_id: str | None, request: CreateRecordRequest,
                   upsert: bool = False) -> Record | repository.NewRecord:
    """A create checked against every rule and ready to write (write_new), or, unless upserting, the
    record its channelId already has in the kanban (the answer, nothing to write). The channelId's
    record is looked up only when the body breaks a rule: otherwise the write's own condition on the
    channel's lock tells (write_new)."""
    kanban = access.Scope.of(principal).kanban(kanban_id)
    try:
        return _checked_create(principal, kanban, request)
    except ValidationFailed:
        if request.channelId is not None and not upsert:
            existing = repository.find_channel_record(principal.account_id, kanban.kanban_id, request.channelId)
            if existing is not None:
                return existing
        raise


def _checked_create(principal: Principal, kanban: Kanban, request: CreateRecordRequest) -> repository.NewRecord:
    status = request.status or kanban.statuses[0].value
    access.check_status(status, kanban)
    custom_fields = fields.merge({}, fields.validate_changes(kanban, request.customFields))
    created_at = now_ms()
    record = Record(
        record_id=new_id("record", created_at),
        account_id=principal.account_id,
        kanban_id=kanban.kanban_id,
        title=request.title,
        status=status,
        custom_fields=custom_fields,
        assigned_user_ids=_check_assignees(principal, request.assignedUserIds),
        channel_id=request.channelId,
        created_at=created_at,
        updated_at=created_at,
        created_by=principal.user_id,
        updated_by=principal.user_id,
        version=1,
    )
    entries = fields.index_entries(kanban, custom_fields)
    return repository.NewRecord(record, kanban, entries, fields.unique_entries(kanban, entries))


def write_new(principal: Principal, new: repository.NewRecord,
              upsert: CreateRecordRequest | None = None) -> tuple[Record, bool]:
    """Write a prepared create: returns (record, created). When another record has taken its channelId
    meanwhile, that record is the answer; a value of a unique field that another record holds is a
    409. Upserting (`upsert`: the request), the record the channelId or a unique value matches gets the
    request as an update instead; when upserts race, the losers update the winner's record."""
    kanban, record = new.kanban, new.record
    for _ in range(retries.WRITE_ATTEMPTS):
        # Upserting, the record the body matches is the one to update; after a lost race, the winner's.
        existing = _match(kanban, record, new.unique) if upsert else None
        if existing is not None:
            return _apply(principal, existing, upsert), False
        try:
            repository.create_record(new)
            return record, True
        except repository.ChannelTaken as taken:
            # The channel's record is the answer, unless it was deleted in between: then the channel is free.
            holder = repository.find_record(record.account_id, taken.holder) if taken.holder and not upsert else None
            if holder is not None:
                return holder, False
        except repository.UniqueValueTaken as taken:
            conflict = None if upsert else _unique_conflict(kanban, taken)
            if conflict is not None and not isinstance(conflict, ConcurrentUpdate):
                raise conflict from None
    raise ConcurrentUpdate(f"record {record.record_id} is being created by many writers at once; retry")


def create_record(
    principal: Principal, kanban_id: str | None, request: CreateRecordRequest, upsert: bool = False
) -> tuple[Record, bool]:
    """Returns (record, created): see prepare_create and write_new."""
    prepared = prepare_create(principal, kanban_id, request, upsert)
    if isinstance(prepared, Record):
        return prepared, False
    return write_new(principal, prepared, request if upsert else None)


def write_together(news: list[repository.NewRecord]) -> bool:
    """Write prepared creates (a group of repository.creation_groups) in one transaction. False when a
    condition refused it (a channelId or a unique value taken meanwhile, the kanban changed): then
    nothing was written, and write_new, one by one, answers each as its own request would."""
    try:
        repository.create_records(news)
    except Conflict:
        return False
    return True


def get_record(principal: Principal, record_id: str) -> Record:
    return _visible_record(principal, record_id)


def _with_retries(write: Callable[[], T], record_id: str) -> T:
    """Run a read-modify-write again, after a jittered pause, when another writer got in between: at
    most retries.WRITE_ATTEMPTS times in all, and not past the request's deadline. Only this lost race
    (ConcurrentUpdate) is re-run; the calls inside are resent by shared.repository.retries alone."""
    for attempt in range(1, retries.WRITE_ATTEMPTS + 1):
        try:
            return write()
        except ConcurrentUpdate:
            if attempt == retries.WRITE_ATTEMPTS or not retries.pause(attempt):
                break
    raise ConcurrentUpdate(f"record {record_id} is being changed by many writers at once; retry")


def update_record(
    principal: Principal, record_id: str, request: UpdateRecordRequest, expected: VersionCondition | None = None
) -> Record:
    """Re-reads and re-applies the change when another write got in between, so concurrent updates
    of different custom fields all survive; with `expected` versions (If-Match), only at one of them."""

    def attempt() -> Record:
        stored = _visible_stored(principal, record_id)
        old = stored.record
        preconditions.check(expected, f"record {record_id}", old.version)
        changes: dict[str, Any] = {}
        if request.title is not None:
            changes["title"] = request.title
        if request.assignedUserIds is not None:
            changes["assigned_user_ids"] = _check_assignees(principal, request.assignedUserIds)

        def changed(**more: Any) -> Record:
            return old.model_copy(update={
                **changes, **more, "updated_at": max(now_ms(), old.updated_at), "updated_by": principal.user_id,
                "version": old.version + 1,
            })

        if request.status is None and request.customFields is None \
                and repository.keeps_kanban_unique_fields(stored):
            # Title or assignees alone: no read of the kanban. The transaction checks that it still has
            # the record's status and unique fields; the indexed values and locks stay as stored.
            new = changed()
            try:
                with preconditions.lost_race_fails(expected, f"record {record_id}"):
                    repository.update_record(stored, new, None, None, None)
                return new
            except repository.KanbanChanged:
                pass  # its unique fields (or its statuses) changed: write with the kanban read
        kanban = shared_reads.kanban(principal.account_id, old.kanban_id)
        if kanban is None:
            raise NotFound(f"kanban {old.kanban_id} not found")
        more: dict[str, Any] = {}
        if request.status is not None:
            access.check_status(request.status, kanban)
            more["status"] = request.status
        if request.customFields is not None:
            cleaned = fields.validate_changes(kanban, request.customFields, stored=old.custom_fields)
            more["custom_fields"] = fields.merge(old.custom_fields, cleaned)
        new = changed(**more)
        entries = fields.index_entries(kanban, new.custom_fields)
        try:
            with preconditions.lost_race_fails(expected, f"record {record_id}"):
                repository.update_record(stored, new, kanban, entries, fields.unique_entries(kanban, entries))
        except repository.UniqueValueTaken as taken:
            raise _unique_conflict(kanban, taken) from None
        return new

    return _with_retries(attempt, record_id)


def _move_to_trash(principal: Principal, record_id: str,
                   expected: VersionCondition | None) -> tuple[Record, TrashedRecord]:
    def attempt() -> tuple[Record, TrashedRecord]:
        stored = _visible_stored(principal, record_id)
        preconditions.check(expected, f"record {record_id}", stored.record.version)
        deleted_at = now_ms()
        expires_at = deleted_at // 1000 + TRASH_RETENTION_DAYS * _DAY_SECONDS
        with preconditions.lost_race_fails(expected, f"record {record_id}"):
            return stored.record, repository.delete_record(stored, deleted_at, principal.user_id, expires_at)

    return _with_retries(attempt, record_id)


def delete_record(principal: Principal, record_id: str, expected: VersionCondition | None = None) -> Record:
    """Moves the record to the trash (purged after TRASH_RETENTION_DAYS); returns it as it was deleted."""
    record, _ = _move_to_trash(principal, record_id, expected)
    return record


def _visible_trashed(principal: Principal, record_id: str) -> repository.StoredTrash:
    stored = repository.find_stored_trash(principal.account_id, record_id)
    if stored is None:
        raise NotFound(f"record {record_id} is not in the trash")
    access.Scope.of(principal).require(stored.trashed.kanban_id)
    return stored


def purge_record(principal: Principal, record_id: str, expected: VersionCondition | None = None) -> None:
    """Deletes a record for good (admins only): a live one is moved to the trash first (with `expected`
    checked against it), then its trash item goes; for a record already in the trash, `expected` names
    versions of its trash item."""
    access.require_admin(principal)
    if repository.find_record(principal.account_id, record_id) is not None:
        _, trashed = _move_to_trash(principal, record_id, expected)
        expected = VersionCondition(versions=frozenset({trashed.version}))
    elif repository.find_trashed(principal.account_id, record_id) is None:
        raise NotFound(f"record {record_id} not found")

    def attempt() -> None:
        stored = _visible_trashed(principal, record_id)
        preconditions.check(expected, f"record {record_id}", stored.trashed.version)
        with preconditions.lost_race_fails(expected, f"record {record_id}"):
            repository.purge_trashed(stored)

    _with_retries(attempt, record_id)


def _channel_conflict(record: Record) -> Conflict:
    """The 409 naming the record that took a restored record's channelId; a ConcurrentUpdate (to run
    again) if that record gave it up meanwhile."""
    assert record.channel_id is not None
    holder = repository.channel_holder(record.account_id, record.kanban_id, record.channel_id)
    if holder is None:
        return ConcurrentUpdate(f"channelId {record.channel_id!r} was being written concurrently; retry")
    return Conflict(f"channelId {record.channel_id!r} is taken in kanban {record.kanban_id} by record {holder}; "
                    f"record {record.record_id} cannot be restored while it is")


def restore_record(principal: Principal, record_id: str) -> Record:
    """Brings a record back from the trash, as it was deleted, at a new version; a 409 naming what
    stands in the way: its kanban or status gone, its channelId or a unique value taken meanwhile."""

    def attempt() -> Record:
        stored = _visible_trashed(principal, record_id)
        trashed = stored.trashed
        kanban = shared_reads.kanban(principal.account_id, trashed.kanban_id)
        if kanban is None:
            raise Conflict(f"record {record_id} cannot be restored: its kanban {trashed.kanban_id} no longer exists")
        if trashed.status not in kanban.status_values():
            raise Conflict(f"record {record_id} cannot be restored: its status {trashed.status!r} is no longer a "
                           f"status of kanban {kanban.kanban_id}")
        record = Record(**trashed.model_dump(exclude={"deleted_at", "deleted_by"})).model_copy(update={
            "updated_at": max(now_ms(), trashed.updated_at), "updated_by": principal.user_id,
            "version": trashed.version + 1,
        })
        entries = fields.index_entries(kanban, record.custom_fields)
        try:
            repository.restore_record(stored, record, kanban, entries, fields.unique_entries(kanban, entries))
        except repository.UniqueValueTaken as taken:
            raise _unique_conflict(kanban, taken) from None
        except repository.ChannelTaken:
            raise _channel_conflict(record) from None
        return record

    return _with_retries(attempt, record_id)


def list_records(
    principal: Principal,
    *,
    kanban_id: str | None,
    status: str | None,
    assigned_user_id: str | None,
    limit: int,
    next_token: str | None,
    deleted: bool = False,
) -> Listing:
    """Records newest first; `deleted`: the trash (TrashedRecord items), newest deletion first."""
    access_scope = access.Scope.of(principal)
    kanban = access_scope.kanban(kanban_id) if kanban_id is not None else None
    if status is not None:
        access.check_status(status, kanban)
    if assigned_user_id is not None and accounts.find_user(principal.account_id, assigned_user_id) is None:
        raise ValidationFailed(f"assignedUserId {assigned_user_id!r} is not a user of this account")
    if access_scope.kanban_ids == frozenset():
        return Listing(items=(), next_token=None)
    query_scope = f"{'trash' if deleted else 'records'}|{principal.account_id}|{kanban_id}|{status}|{assigned_user_id}"
    page = repository.list_records(
        principal.account_id,
        kanban_id=kanban_id,
        status=status,
        user_id=assigned_user_id,
        limit=limit,
        cursor=decode_token(next_token, query_scope),
        allowed_kanbans=access_scope.kanban_ids,
        trashed=deleted,
    )
    return Listing(items=page.items, next_token=encode_token(page.cursor, query_scope))
