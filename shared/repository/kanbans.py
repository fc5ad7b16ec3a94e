"""Kanbans (with their statuses and field definitions), their slugs and their record counters."""

from typing import Any

from shared.errors import ConcurrentUpdate, Conflict, NotFound
from shared.models.domain import FieldDefinition, Kanban, Page, StatusDefinition
from shared.repository import dynamo, keys


class SlugTaken(Conflict):
    """Another kanban of the account already has this slug."""


def _field_item(field: FieldDefinition) -> dict[str, Any]:
    return {
        "id": field.id,
        "name": field.name,
        "type": field.type,
        "description": field.description,
        "options": list(field.options) if field.options is not None else None,
        "order": field.order,
        "isSystem": field.is_system,
        "boundToChannels": list(field.bound_to_channels),
        "unique": field.unique or None,
    }


def _item(kanban: Kanban) -> dict[str, Any]:
    return {
        "PK": keys.account_pk(kanban.account_id),
        "SK": keys.kanban_sk(kanban.kanban_id),
        "kanbanId": kanban.kanban_id,
        "accountId": kanban.account_id,
        "name": kanban.name,
        "slug": kanban.slug,
        "description": kanban.description,
        "order": kanban.order,
        "statuses": [s.model_dump() for s in kanban.statuses],
        # A set copy of the status values lets record writes check a status still exists, atomically.
        "statusValues": set(kanban.status_values()),
        # Likewise the unique fields' ids let a record's create check it took the lock of every unique value.
        "uniqueFieldIds": unique_field_ids(kanban) or None,
        "fields": [{k: v for k, v in _field_item(f).items() if v is not None} for f in kanban.fields],
        "createdAt": kanban.created_at,
        "updatedAt": kanban.updated_at,
        "version": kanban.version,
    }


def unique_field_ids(kanban: Kanban) -> str:
    return ",".join(sorted(f.id for f in kanban.fields if f.unique))


def _kanban(item: dict[str, Any]) -> Kanban:
    return Kanban(
        kanban_id=item["kanbanId"],
        account_id=item["accountId"],
        name=item["name"],
        slug=item["slug"],
        description=item.get("description", ""),
        order=item["order"],
        statuses=tuple(StatusDefinition(**s) for s in item["statuses"]),
        fields=tuple(
            FieldDefinition(
                id=f["id"],
                name=f["name"],
                type=f["type"],
                description=f.get("description", ""),
                options=tuple(f["options"]) if "options" in f else None,
                order=f["order"],
                is_system=f.get("isSystem", False),
                bound_to_channels=tuple(f.get("boundToChannels", [])),
                unique=f.get("unique", False),
            )
            for f in item.get("fields", [])
        ),
        created_at=item["createdAt"],
        updated_at=item["updatedAt"],
        version=item["version"],
    )


def _slug_lock(kanban: Kanban) -> dynamo.Write:
    lock = {"PK": keys.account_pk(kanban.account_id), "SK": keys.slug_sk(kanban.slug), "kanbanId": kanban.kanban_id}
    return dynamo.Write(dynamo.put(lock, "attribute_not_exists(PK)"), SlugTaken(f"slug {kanban.slug} is taken"))


def _set_default(kanban: Kanban, previous_default_id: str | None) -> list[dynamo.Write]:
    """Make the kanban its account's default. The previous default's version goes up in the same
    transaction: its isDefault changes, so its ETag must change too."""
    account = keys.account_pk(kanban.account_id)
    if previous_default_id is None or previous_default_id == kanban.kanban_id:
        return [dynamo.Write(dynamo.update(
            account, keys.ACCOUNT_SK, "SET defaultKanbanId = :k", "attribute_exists(PK)",
            values={":k": kanban.kanban_id},
        ), NotFound(f"account {kanban.account_id} not found"))]
    return [
        dynamo.Write(dynamo.update(
            account, keys.ACCOUNT_SK, "SET defaultKanbanId = :k", "defaultKanbanId = :previous",
            values={":k": kanban.kanban_id, ":previous": previous_default_id},
        ), ConcurrentUpdate("the account's default kanban was changed concurrently; retry")),
        dynamo.Write(dynamo.update(
            account, keys.kanban_sk(previous_default_id), "SET version = version + :one, updatedAt = :at",
            "attribute_exists(PK)", values={":one": 1, ":at": kanban.updated_at},
        ), ConcurrentUpdate(f"kanban {previous_default_id} was changed concurrently; retry")),
    ]


def create_kanban(kanban: Kanban, make_default: bool, previous_default_id: str | None = None) -> None:
    counts_pk, counts_sk = keys.kanban_counts_key(kanban.account_id, kanban.kanban_id)
    counts = {"PK": counts_pk, "SK": counts_sk, "total": 0}
    writes = [
        dynamo.Write(dynamo.put(_item(kanban), "attribute_not_exists(PK)"), Conflict("kanban id collision")),
        dynamo.Write(dynamo.put(counts)),
        _slug_lock(kanban),
    ]
    if make_default:
        writes += _set_default(kanban, previous_default_id)
    dynamo.transact(writes)


def update_kanban(old: Kanban, new: Kanban, make_default: bool, previous_default_id: str | None = None) -> None:
    """Replace a kanban's definition; fails if a removed status still holds records."""
    account = keys.account_pk(new.account_id)
    writes = [dynamo.Write(
        dynamo.put(_item(new), "version = :v", values={":v": old.version}),
        ConcurrentUpdate(f"kanban {old.kanban_id} was changed concurrently; retry"),
    )]
    if new.slug != old.slug:
        writes += [_slug_lock(new), dynamo.Write(dynamo.delete(account, keys.slug_sk(old.slug)))]
    removed = sorted(set(old.status_values()) - set(new.status_values()))
    if removed:
        names = {f"#s{i}": keys.status_count_attribute(s) for i, s in enumerate(removed)}
        empty = " AND ".join(f"(attribute_not_exists({n}) OR {n} = :zero)" for n in names)
        writes.append(dynamo.Write(
            dynamo.condition_check(*keys.kanban_counts_key(new.account_id, new.kanban_id), empty,
                                   names=names, values={":zero": 0}),
            Conflict(f"statuses {', '.join(removed)} still hold records; move or delete them first"),
        ))
    if make_default:
        writes += _set_default(new, previous_default_id)
    dynamo.transact(writes)


def delete_kanban(kanban: Kanban) -> None:
    account = keys.account_pk(kanban.account_id)
    dynamo.transact([
        dynamo.Write(
            dynamo.delete(account, keys.kanban_sk(kanban.kanban_id), "version = :v", values={":v": kanban.version}),
            ConcurrentUpdate(f"kanban {kanban.kanban_id} was changed concurrently; retry"),
        ),
        dynamo.Write(
            dynamo.delete(*keys.kanban_counts_key(kanban.account_id, kanban.kanban_id),
                          "attribute_not_exists(#t) OR #t = :zero", names={"#t": "total"}, values={":zero": 0}),
            Conflict(f"kanban {kanban.kanban_id} still has records; delete or move them first"),
        ),
        dynamo.Write(dynamo.delete(account, keys.slug_sk(kanban.slug))),
        dynamo.Write(
            dynamo.condition_check(
                account, keys.ACCOUNT_SK, "attribute_not_exists(defaultKanbanId) OR defaultKanbanId <> :k",
                values={":k": kanban.kanban_id},
            ),
            Conflict("the default kanban cannot be deleted; make another kanban the default first"),
        ),
    ])


def find_kanban(account_id: str, kanban_id: str) -> Kanban | None:
    item = dynamo.get(keys.account_pk(account_id), keys.kanban_sk(kanban_id))
    return _kanban(item) if item else None


def list_kanbans(account_id: str, limit: int, cursor: dict[str, Any] | None) -> Page:
    items, last = dynamo.query(
        partition=keys.account_pk(account_id), sort_prefix=keys.KANBAN_PREFIX, limit=limit, start_key=cursor
    )
    return Page(items=tuple(_kanban(i) for i in items), cursor=last)


def all_kanbans(account_id: str) -> list[Kanban]:
    return [_kanban(i) for i in dynamo.query_all(keys.account_pk(account_id), keys.KANBAN_PREFIX)]


def status_counts(kanban: Kanban) -> dict[str, int]:
    """Records per status of a kanban, kept exact by every record write's transaction."""
    item = dynamo.get(*keys.kanban_counts_key(kanban.account_id, kanban.kanban_id)) or {}
    return {s: int(item.get(keys.status_count_attribute(s), 0)) for s in kanban.status_values()}
