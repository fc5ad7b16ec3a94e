"""Kanban rules: slugs, default kanban, field ids, status and field changes."""

import re
import unicodedata
from itertools import islice
from typing import Any

from shared.errors import Conflict, NotFound, ValidationFailed
from shared.ids import new_id, now_ms
from shared.logic import access, preconditions, shared_reads, unique_fields
from shared.models.api import (
    CreateKanbanRequest,
    FieldInput,
    KanbanResponse,
    StatusInput,
    UpdateKanbanRequest,
    read_only_changes,
)
from shared.models.domain import (
    BoardField,
    FieldDefinition,
    Kanban,
    Listing,
    Principal,
    StatusDefinition,
    VersionCondition,
)
from shared.pagination import decode_token, encode_token
from shared.repository import kanbans as repository
from shared.repository import retries

MAX_KANBANS_PER_ACCOUNT = 200
_SLUG_ATTEMPTS = 50


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:80] or "kanban"


def _statuses(inputs: list[StatusInput]) -> tuple[StatusDefinition, ...]:
    values = [s.value for s in inputs]
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise ValidationFailed(f"statuses: duplicate values {', '.join(duplicates)}")
    return tuple(StatusDefinition(value=s.value, label=s.label, color=s.color) for s in inputs)


def _fields(inputs: list[FieldInput], existing: tuple[FieldDefinition, ...], at_ms: int) -> tuple[FieldDefinition, ...]:
    """New fields get ids; fields sent with an id keep it (and their type, so stored values stay valid)."""
    by_id = {f.id: f for f in existing}
    result: list[FieldDefinition] = []
    for order, given in enumerate(inputs):
        if given.id is None:
            field_id = new_id("field", at_ms)
            is_system = False
        else:
            previous = by_id.get(given.id)
            if previous is None:
                raise ValidationFailed(f"fields[{order}]: unknown field id {given.id}; omit id for a new field")
            if previous.type != given.type:
                raise Conflict(
                    f"field {given.id} is of type {previous.type} and cannot become {given.type}; "
                    "add a new field instead"
                )
            field_id, is_system = previous.id, previous.is_system
        result.append(FieldDefinition(
            id=field_id,
            name=given.name,
            type=given.type,
            description=given.description,
            options=tuple(given.options) if given.options is not None else None,
            order=order,
            is_system=is_system,
            bound_to_channels=tuple(given.boundToChannels),
            unique=given.unique,
        ))
    ids = [f.id for f in result]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("fields: the same field id is listed twice")
    return tuple(result)


def _write_with_free_slug(kanban: Kanban, write, taken: set[str]) -> Kanban:
    """Write with the slug of the name, else name-2, name-3, ...: the first one no kanban of the
    account has (`taken`), or the next free one when a concurrent write took it first; at most
    retries.WRITE_ATTEMPTS writes."""
    base = kanban.slug
    names = (base, *(f"{base}-{n}" for n in range(2, _SLUG_ATTEMPTS + 1)))
    for slug in islice((s for s in names if s not in taken), retries.WRITE_ATTEMPTS):
        candidate = kanban.model_copy(update={"slug": slug})
        try:
            write(candidate)
            return candidate
        except repository.SlugTaken:
            continue
    raise Conflict(f"too many kanbans are named like {kanban.name!r}")


def _default_kanban_id(principal: Principal) -> str | None:
    return shared_reads.account(principal.account_id).default_kanban_id


def _marked(kanban: Kanban, default_id: str | None) -> Kanban:
    return kanban.model_copy(update={"is_default": kanban.kanban_id == default_id})


def list_kanbans(principal: Principal, accessible: bool, limit: int, next_token: str | None) -> Listing:
    """Creation order. Members only ever see the kanbans they have access to; `accessible` asks the
    same of an admin's list, which for an admin is every kanban."""
    query_scope = f"kanbans|{principal.account_id}|{accessible}"
    after = (decode_token(next_token, query_scope) or {}).get("after", "")
    scope = access.Scope.of(principal)
    visible = [
        k for k in repository.all_kanbans(principal.account_id) if scope.allows(k.kanban_id) and k.kanban_id > after
    ]
    page = visible[:limit]
    default_id = _default_kanban_id(principal)
    cursor = {"after": page[-1].kanban_id} if len(visible) > limit else None
    return Listing(items=tuple(_marked(k, default_id) for k in page), next_token=encode_token(cursor, query_scope))


def get_kanban(principal: Principal, kanban_id: str) -> Kanban:
    return _marked(access.Scope.of(principal).kanban(kanban_id), _default_kanban_id(principal))


def create_kanban(principal: Principal, request: CreateKanbanRequest) -> Kanban:
    access.require_admin(principal)
    # A new kanban's fields are new: their read-only values are their positions and not being system fields.
    refuse_read_only_changes(_field_read_only_changes(request.fields, {}))
    existing = repository.all_kanbans(principal.account_id)
    if len(existing) >= MAX_KANBANS_PER_ACCOUNT:
        raise Conflict(f"an account can have at most {MAX_KANBANS_PER_ACCOUNT} kanbans")
    created_at = now_ms()
    kanban = Kanban(
        kanban_id=new_id("kanban", created_at),
        account_id=principal.account_id,
        name=request.name,
        slug=slugify(request.name),
        description=request.description,
        order=request.order if request.order is not None else len(existing),
        statuses=_statuses(request.statuses),
        fields=_fields(request.fields, (), created_at),
        created_at=created_at,
        updated_at=created_at,
        version=1,
    )
    default_id = _default_kanban_id(principal)
    make_default = request.isDefault or default_id is None
    kanban = _write_with_free_slug(kanban, lambda k: repository.create_kanban(k, make_default, default_id),
                                   {k.slug for k in existing})
    return _marked(kanban, kanban.kanban_id if make_default else default_id)


def _field_read_only_changes(fields: list[FieldInput], stored: dict[str, FieldDefinition]) -> list[str]:
    """The fields' read-only values that differ from the stored field's, or for a new field from its
    position and not being a system field."""
    changed = []
    for position, given in enumerate(fields):
        previous = stored.get(given.id) if given.id is not None else None
        expected_order = previous.order if previous is not None else position
        expected_system = previous.is_system if previous is not None else False
        if given.order is not None and given.order != expected_order:
            changed.append(f"fields.{position}.order")
        if given.isSystem is not None and given.isSystem != expected_system:
            changed.append(f"fields.{position}.isSystem")
    return changed


def refuse_read_only_changes(changed: list[str]) -> None:
    if changed:
        raise ValidationFailed(
            f"{', '.join(changed)}: read-only, and different from the current value; "
            "send it unchanged or leave it out"
        )


def _check_read_only(request: UpdateKanbanRequest, current: Kanban) -> None:
    """A kanban as GET answered it can be sent back: its read-only values must be the current ones."""
    view = KanbanResponse.model_validate(current).model_dump()
    stored = {f.id: f for f in current.fields}
    refuse_read_only_changes(read_only_changes(request, view) + _field_read_only_changes(request.fields or [], stored))


def update_kanban(
    principal: Principal, kanban_id: str, request: UpdateKanbanRequest, expected: VersionCondition | None = None
) -> Kanban:
    access.require_admin(principal)
    old = access.Scope.of(principal).kanban(kanban_id)
    preconditions.check(expected, f"kanban {kanban_id}", old.version)
    default_id = _default_kanban_id(principal)
    _check_read_only(request, _marked(old, default_id))
    if request.isDefault is False and default_id == kanban_id:
        raise ValidationFailed("isDefault: an account always has a default kanban; make another one the default")
    updated_at = max(now_ms(), old.updated_at)
    changes: dict[str, Any] = {"updated_at": updated_at, "version": old.version + 1}
    if request.name is not None:
        changes |= {"name": request.name, "slug": slugify(request.name)}
    if request.description is not None:
        changes["description"] = request.description
    if request.order is not None:
        changes["order"] = request.order
    if request.statuses is not None:
        changes["statuses"] = _statuses(request.statuses)
    if request.fields is not None:
        changes["fields"] = _fields(request.fields, old.fields, updated_at)
    new = old.model_copy(update=changes)
    made_unique = unique_fields.made_unique(old, new)
    unique_fields.refuse_duplicates(new, made_unique)
    make_default = bool(request.isDefault) and default_id != kanban_id

    def write(candidate: Kanban) -> None:
        with preconditions.lost_race_fails(expected, f"kanban {kanban_id}"):
            repository.update_kanban(old, candidate, make_default, default_id)

    if new.slug != old.slug:
        new = _write_with_free_slug(new, write, {k.slug for k in repository.all_kanbans(principal.account_id)})
    else:
        write(new)
    unique_fields.lock_values(new, made_unique)
    return _marked(new, kanban_id if make_default else default_id)


def delete_kanban(principal: Principal, kanban_id: str, expected: VersionCondition | None = None) -> None:
    access.require_admin(principal)
    kanban = repository.find_kanban(principal.account_id, kanban_id)
    if kanban is None:
        raise NotFound(f"kanban {kanban_id} not found")
    preconditions.check(expected, f"kanban {kanban_id}", kanban.version)
    with preconditions.lost_race_fails(expected, f"kanban {kanban_id}"):
        repository.delete_kanban(kanban)


def field_definitions(principal: Principal, kanban_id: str | None, all_kanbans: bool) -> tuple[FieldDefinition, ...]:
    if all_kanbans:
        if kanban_id is not None:
            raise ValidationFailed("pass either kanbanId or all=true, not both")
        scope = access.Scope.of(principal)
        boards = [k for k in repository.all_kanbans(principal.account_id) if scope.allows(k.kanban_id)]
        return tuple(BoardField(**f.model_dump(), kanban_id=k.kanban_id) for k in boards for f in k.fields)
    return access.Scope.of(principal).kanban(kanban_id).fields


def status_definitions(principal: Principal, kanban_id: str | None) -> tuple[StatusDefinition, ...]:
    return access.Scope.of(principal).kanban(kanban_id).statuses
