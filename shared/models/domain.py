"""Domain types: what the logic layer works with, independent of HTTP and of DynamoDB items."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

FieldType = Literal[
    "text", "textarea", "number", "currency", "date", "datetime",
    "select", "multiselect", "boolean", "email", "phone", "url",
]
# Field types whose values are searchable and written to the field-value index.
INDEXED_FIELD_TYPES: frozenset[str] = frozenset({"text", "email", "phone", "url", "select", "multiselect"})
# Field types a definition may make unique: no two records of a kanban hold the same normalized value.
UNIQUE_FIELD_TYPES: tuple[str, ...] = ("text", "email", "phone", "url")
Role = Literal["admin", "member"]

# A status value: also what status filters are checked against before they reach a key or a search.
StatusValue = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$")]


class Domain(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)  # built on first use


class StatusDefinition(Domain):
    value: str
    label: str
    color: str


class FieldDefinition(Domain):
    id: str
    name: str
    type: FieldType
    description: str = ""
    options: tuple[str, ...] | None = None
    order: int = 0
    is_system: bool = False
    bound_to_channels: tuple[str, ...] = ()
    unique: bool = False


class BoardField(FieldDefinition):
    """A field definition with the kanban it belongs to."""

    kanban_id: str


class Account(Domain):
    account_id: str
    name: str
    default_kanban_id: str | None
    created_at: int
    usage_key: str | None = None
    """The account's key in the API's usage plan (deployed stacks only)."""
    rate_limit_per_minute: int | None = None
    rate_limit_per_hour: int | None = None
    """The account's own rate limits; None where the default applies."""


class Kanban(Domain):
    kanban_id: str
    account_id: str
    name: str
    slug: str
    description: str
    order: int
    statuses: tuple[StatusDefinition, ...]
    fields: tuple[FieldDefinition, ...]
    created_at: int
    updated_at: int
    version: int
    is_default: bool = False
    """Whether it is its account's default kanban (the account holds that; set when read)."""

    def status_values(self) -> list[str]:
        return [s.value for s in self.statuses]

    def field(self, field_id: str) -> FieldDefinition | None:
        return next((f for f in self.fields if f.id == field_id), None)


class Record(Domain):
    record_id: str
    account_id: str
    kanban_id: str
    title: str
    status: str
    custom_fields: dict[str, Any]
    assigned_user_ids: tuple[str, ...]
    channel_id: str | None
    created_at: int
    updated_at: int
    created_by: str
    updated_by: str
    version: int


class TrashedRecord(Record):
    """A deleted record in the trash: the record as it was deleted (its version: the trash item's), when
    and by whom."""

    deleted_at: int
    deleted_by: str


class VersionCondition(Domain):
    """The versions of a record or kanban a write may replace: one of `versions`, or any (None), as long
    as the item exists."""

    versions: frozenset[int] | None

    def allows(self, version: int) -> bool:
        return self.versions is None or version in self.versions


class User(Domain):
    user_id: str
    account_id: str
    name: str
    email: str
    role: Role
    kanban_ids: tuple[str, ...]
    created_at: int
    updated_at: int


class UserDeletion(Domain):
    user: "User"
    revoked_token_ids: tuple[str, ...]


class ApiToken(Domain):
    token_id: str
    account_id: str
    user_id: str
    name: str
    secret_hash: str
    created_at: int
    revoked_at: int | None = None


class Principal(Domain):
    """Who is calling: what the authorizer established from the Bearer token, and what the functions
    confirm against the table on every request (the token still valid, the user's current role and
    kanban access)."""

    account_id: str
    user_id: str
    role: Role
    token_id: str
    kanban_ids: frozenset[str] = frozenset()
    """The kanbans a member may use (admins use every kanban of the account)."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Page(Domain):
    """One page of a list and the cursor (a storage key) after its last item, if there is more."""

    items: tuple[Any, ...]
    cursor: dict[str, Any] | None


class IssuedToken(ApiToken):
    """A token just created, with its Bearer string: the only time the secret is ever at hand."""

    bearer: str


class Listing(Domain):
    """One page of a list as the API answers it: the items and the opaque token of the next page."""

    items: tuple[Any, ...]
    next_token: str | None


class SearchResults(Domain):
    items: tuple[Record, ...]
    total: int
    page: int
    page_size: int
    total_pages: int
    total_is_capped: bool = False


class StatusCount(Domain):
    key: str
    count: int


class StatusAggregation(Domain):
    status: tuple[StatusCount, ...]


# --- changes: history, change feed, events ---------------------------------------------------------

ChangeAction = Literal["created", "updated", "deleted", "restored"]


class RecordChange(Domain):
    """One change of a record, read from the table's stream: what happened, at which version, when and
    by whom, what changed (`{"title": {"from": ..., "to": ...}, "customFields.<id>": {...}}`), and
    the record after it (for a deletion: the record as it was deleted)."""

    account_id: str
    record_id: str
    kanban_id: str
    action: ChangeAction
    version: int
    at: int
    by: str
    changes: dict[str, Any]
    record: Record
    status_changed: bool = False
    """An update that moved the record to another status (also published as record.status_changed)."""


class HistoryEntry(Domain):
    """One version of a record in its history."""

    record_id: str
    kanban_id: str
    version: int
    action: ChangeAction
    at: int
    by: str
    changes: dict[str, Any]


class FeedEntry(Domain):
    """One change in an account's change feed, at its sequence number."""

    sequence: int
    record_id: str
    kanban_id: str
    action: ChangeAction
    version: int
    at: int
    recorded_at: int
    """When the change entered the feed (ms): a gap before a recent entry may be a write still committing."""
    record: Record | None
    """The record after the change; None for a deletion."""


class ChangeFeedPage(Domain):
    items: tuple[FeedEntry, ...]
    next_token: str
# --- webhooks --------------------------------------------------------------------------------------

WebhookEventType = Literal[
    "record.created", "record.updated", "record.deleted", "record.restored", "record.status_changed",
]
WEBHOOK_EVENT_TYPES: tuple[str, ...] = (
    "record.created", "record.updated", "record.deleted", "record.restored", "record.status_changed",
)
# What POST /webhooks/{id}/test sends; no webhook subscribes to it.
PING_EVENT_TYPE = "ping"
DeliveryStatus = Literal["pending", "succeeded", "failed"]


class Webhook(Domain):
    webhook_id: str
    account_id: str
    url: str
    events: tuple[str, ...]
    kanban_id: str | None
    description: str
    active: bool
    created_at: int
    updated_at: int
    secret: str
    """The signing key: stored to sign each delivery, shown only in the answer that creates it."""
    consecutive_failures: int = 0
    """Deliveries failed in a row (each after all its retries); reset by a success or a reactivation."""

    def wants(self, event_type: str, kanban_id: str | None) -> bool:
        return (self.active and event_type in self.events
                and (self.kanban_id is None or self.kanban_id == kanban_id))


class CreatedWebhook(Webhook):
    """A webhook just created: the only answer that carries its secret."""


class Delivery(Domain):
    delivery_id: str
    webhook_id: str
    account_id: str
    event_id: str
    type: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: int | None
    created_at: int
    updated_at: int
    deadline: int
    """When retries stop: an attempt failing after it fails the delivery."""
    body: str
    """The exact JSON sent (and signed) on every attempt."""
