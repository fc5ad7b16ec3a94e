"""Custom-field values: validation against a kanban's field definitions, and index normalization."""

import datetime as dt
import ipaddress
import json
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from shared.errors import ValidationFailed
from shared.models.domain import INDEXED_FIELD_TYPES, FieldDefinition, Kanban

MAX_INDEXED_VALUES = 25
MAX_CUSTOM_FIELDS_BYTES = 300_000
_MAX_LENGTH = {"text": 1000, "textarea": 20_000, "email": 254, "phone": 32, "url": 2048}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Lenient on purpose: an optional +, digits and the separators people type (space - . / ( )).
_PHONE = re.compile(r"^\+?[0-9 \-./()]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Invalid(ValueError):
    pass


def _string(field: FieldDefinition, value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be a string")
    value = value.strip()
    limit = _MAX_LENGTH[field.type]
    if len(value) > limit:
        raise _Invalid(f"must be at most {limit} characters")
    return value


def _number(field: FieldDefinition, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid("must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Invalid("must be a finite number")
    # DynamoDB numbers hold 38 digits between 1E-130 and 1E+126.
    if abs(value) >= 1e30 or 0 < abs(value) < 1e-130:
        raise _Invalid("is out of range (1e-130 to 1e30 in magnitude, or 0)")
    return value


def _date(field: FieldDefinition, value: Any) -> str:
    if not isinstance(value, str) or not _DATE.match(value):
        raise _Invalid("must be a date as YYYY-MM-DD")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise _Invalid("is not a valid calendar date") from None
    return value


def _datetime(field: FieldDefinition, value: Any) -> str:
    """ISO 8601 with an offset; stored in UTC as YYYY-MM-DDTHH:MM:SS.mmmZ."""
    if not isinstance(value, str):
        raise _Invalid("must be an ISO 8601 date-time string with an offset")
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise _Invalid("must be an ISO 8601 date-time such as 2024-01-15T10:30:00Z") from None
    if parsed.tzinfo is None:
        raise _Invalid("needs a UTC offset, such as Z or +02:00")
    try:
        in_utc = parsed.astimezone(dt.UTC)
    except OverflowError:
        raise _Invalid("is outside the years 1 to 9999 in UTC") from None
    return in_utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _option(field: FieldDefinition, value: Any) -> str:
    """Matches an option case-insensitively and stores the option as defined."""
    options = {o.lower(): o for o in field.options or ()}
    if not isinstance(value, str) or value.strip().lower() not in options:
        raise _Invalid(f"must be one of: {', '.join(field.options or ())}")
    return options[value.strip().lower()]


def _options(field: FieldDefinition, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise _Invalid("must be a list of options")
    return list(dict.fromkeys(_option(field, v) for v in value))


def _boolean(field: FieldDefinition, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def _email(field: FieldDefinition, value: Any) -> str:
    value = _string(field, value)
    if not _EMAIL.match(value):
        raise _Invalid("must be an email address")
    return value


def _phone(field: FieldDefinition, value: Any) -> str:
    value = _string(field, value)
    digits = sum(c.isdigit() for c in value)
    if not _PHONE.match(value) or not 3 <= digits <= 20:
        raise _Invalid("must be a phone number: digits with an optional leading + and separators")
    return value


def _url(field: FieldDefinition, value: Any) -> str:
    """An absolute http(s) URL with a host; brackets only around an IPv6 address, a port 1-65535."""
    value = _string(field, value)
    invalid = _Invalid("must be an http or https URL with a host, such as https://example.com/page")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # an unclosed bracket, a port out of range or not a number
        raise invalid from None
    host = parts.hostname
    if parts.scheme.lower() not in ("http", "https") or not host or any(c.isspace() for c in value):
        raise invalid
    if port == 0 or ("[" in parts.netloc and not _is_ipv6(host)) or "]" in parts.netloc.replace(f"[{host}]", ""):
        raise invalid
    return value


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


_VALIDATORS: dict[str, Callable[[FieldDefinition, Any], Any]] = {
    "text": _string,
    "textarea": _string,
    "number": _number,
    "currency": _number,
    "date": _date,
    "datetime": _datetime,
    "select": _option,
    "multiselect": _options,
    "boolean": _boolean,
    "email": _email,
    "phone": _phone,
    "url": _url,
}


def _describe(field_id: str, field: FieldDefinition | None) -> str:
    return f"customFields.{field_id}" + (f" ({field.name})" if field else "")


def validate_changes(kanban: Kanban, changes: dict[str, Any], stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check each given value against its field's definition; returns the values as they are stored.

    On update (`stored` is the record's current values) None means "remove this field", also for a
    field the kanban no longer defines; on create it simply means no value.
    """
    cleaned: dict[str, Any] = {}
    for field_id, value in changes.items():
        field = kanban.field(field_id)
        if field is None and not (value is None and stored is not None and field_id in stored):
            raise ValidationFailed(f"{_describe(field_id, None)}: unknown field for kanban {kanban.kanban_id}")
        if value is None:
            if stored is not None:
                cleaned[field_id] = None
            continue
        assert field is not None
        try:
            cleaned[field_id] = _VALIDATORS[field.type](field, value)
        except _Invalid as invalid:
            raise ValidationFailed(f"{_describe(field_id, field)}: {invalid}") from None
    return cleaned


def merge(current: dict[str, Any], cleaned_changes: dict[str, Any]) -> dict[str, Any]:
    merged = {**current, **cleaned_changes}
    merged = {k: v for k, v in merged.items() if v is not None}
    if len(json.dumps(merged)) > MAX_CUSTOM_FIELDS_BYTES:
        raise ValidationFailed(f"customFields are too large (at most {MAX_CUSTOM_FIELDS_BYTES} bytes as JSON)")
    return merged


def normalize(field_type: str, value: str) -> str:
    """The form a value is indexed and looked up in: trimmed, lowercased; phones only + and digits."""
    value = value.strip().lower()
    if field_type == "phone":
        value = "".join(c for c in value if c.isdigit() or c == "+")
    return value


def index_entries(kanban: Kanban, custom_fields: dict[str, Any]) -> list[tuple[str, str]]:
    """(field id, normalized value) for every value of an indexed field type: one per selected option."""
    entries: dict[tuple[str, str], None] = {}
    for field_id, value in custom_fields.items():
        field = kanban.field(field_id)
        if field is None or field.type not in INDEXED_FIELD_TYPES:
            continue
        for one in value if isinstance(value, list) else [value]:
            if isinstance(one, str) and (normalized := normalize(field.type, one)):
                entries[(field_id, normalized)] = None
    if len(entries) > MAX_INDEXED_VALUES:
        raise ValidationFailed(
            f"a record can hold at most {MAX_INDEXED_VALUES} values of indexed fields "
            f"(text, email, phone, url, select, multiselect options); this one has {len(entries)}"
        )
    return list(entries)


def unique_entries(kanban: Kanban, entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The index entries of the kanban's unique fields: the values a record holds the locks of."""
    unique = {f.id for f in kanban.fields if f.unique}
    return [entry for entry in entries if entry[0] in unique]
