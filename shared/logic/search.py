"""Search rules: full-text search in the index, exact lookups in the field-value index, and status
aggregations, all confined to the caller's account and accessible kanbans."""

import math

from shared.errors import ValidationFailed
from shared.logic import access, fields
from shared.models.domain import INDEXED_FIELD_TYPES, Principal, Record, SearchResults, StatusAggregation, StatusCount
from shared.repository import kanbans
from shared.repository import records as repository
from shared.search.index import SearchFilter, search_reader

# An exact lookup counts the matches past its page up to this many; past it, its total is a lower bound.
LOOKUP_COUNT_AT_MOST = 100


def _results(records: list[Record], total: int, page: int, page_size: int, capped: bool = False) -> SearchResults:
    return SearchResults(items=tuple(records), total=total, page=page, page_size=page_size,
                         total_pages=math.ceil(total / page_size), total_is_capped=capped)


def search_records(
    principal: Principal, *, q: str | None, kanban_id: str | None, status: str | None, page: int, page_size: int,
    custom_field_id: str | None, custom_field_value: str | None,
) -> SearchResults:
    if (custom_field_id is None) != (custom_field_value is None):
        raise ValidationFailed("customFieldId and customFieldValue go together; pass both or neither")
    if custom_field_id is not None and custom_field_value is not None:
        return _exact_lookup(principal, custom_field_id, custom_field_value, page, page_size)
    return _full_text(principal, q, kanban_id, status, page, page_size)


def _full_text(principal: Principal, q: str | None, kanban_id: str | None, status: str | None, page: int,
               page_size: int) -> SearchResults:
    scope = access.Scope.of(principal)
    kanban = scope.kanban(kanban_id) if kanban_id is not None else None
    if status is not None:
        access.check_status(status, kanban)
    if kanban is not None:
        kanban_ids: list[str] | None = [kanban.kanban_id]
    else:
        kanban_ids = sorted(scope.kanban_ids) if scope.kanban_ids is not None else None
    if kanban_ids == []:
        return _results([], 0, page, page_size)
    where = SearchFilter(account_id=principal.account_id, kanban_ids=kanban_ids, status=status)
    found = search_reader().search((q or "").strip() or None, where, page, page_size)
    current = repository.get_records(principal.account_id, found.record_ids)
    # Items are the records as stored now: deleted ones drop out, moved ones only if still matching.
    items = [
        r for i in found.record_ids if (r := current.get(i)) is not None
        and (kanban_ids is None or r.kanban_id in kanban_ids) and (status is None or r.status == status)
    ]
    return _results(items, found.found, page, page_size)


def _exact_lookup(principal: Principal, field_id: str, value: str, page: int, page_size: int) -> SearchResults:
    scope = access.Scope.of(principal)
    kanban_id, definition = next(
        ((k.kanban_id, f) for k in kanbans.all_kanbans(principal.account_id) for f in k.fields if f.id == field_id),
        (None, None),
    )
    if kanban_id is None or definition is None:
        raise ValidationFailed(f"customFieldId {field_id!r} is not a field of any kanban of this account")
    if definition.type not in INDEXED_FIELD_TYPES:
        raise ValidationFailed(
            f"customFieldId {field_id!r} is a {definition.type} field; exact lookups work on "
            "text, email, phone, url, select and multiselect fields"
        )
    if definition.type == "phone" and value[:1] == " ":
        # An unencoded "+" in a query string arrives as a space: "?customFieldValue=+1234567890".
        value = "+" + value.lstrip()
    normalized = fields.normalize(definition.type, value)
    if not scope.allows(kanban_id):
        return _results([], 0, page, page_size)  # a field belongs to one kanban, and every match with it
    page_ids, total, capped = repository.field_value_page(
        principal.account_id, field_id, normalized, (page - 1) * page_size, page_size, LOOKUP_COUNT_AT_MOST
    )
    current = repository.get_records(principal.account_id, page_ids)

    def still_matches(record: Record) -> bool:
        stored = record.custom_fields.get(field_id)
        values = stored if isinstance(stored, list) else [stored]
        return record.kanban_id == kanban_id and any(
            isinstance(v, str) and fields.normalize(definition.type, v) == normalized for v in values)

    items = [r for i in page_ids if (r := current.get(i)) is not None and still_matches(r)]
    return _results(items, total, page, page_size, capped)


def aggregations(principal: Principal, kanban_id: str | None) -> StatusAggregation:
    kanban = access.Scope.of(principal).kanban(kanban_id)
    counts = kanbans.status_counts(kanban)
    return StatusAggregation(status=tuple(StatusCount(key=s, count=counts[s]) for s in kanban.status_values()))
