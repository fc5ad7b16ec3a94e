"""The API contract: request bodies and responses, in the reference's camelCase shapes."""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_snake
from pydantic.json_schema import SkipJsonSchema

from shared.conditional import CONDITION
from shared.models.domain import (
    UNIQUE_FIELD_TYPES,
    WEBHOOK_EVENT_TYPES,
    DeliveryStatus,
    FieldType,
    Role,
    StatusValue,
    WebhookEventType,
)

# Text that must say something: surrounding whitespace is dropped, so the document asks for one
# character that is not whitespace (the pattern never refuses what the length check lets through).
_SAYS_SOMETHING = r"\S"
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=_SAYS_SOMETHING)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=_SAYS_SOMETHING)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
ChannelId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_SAYS_SOMETHING)
]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
# Ids that clients send in bodies; the shape check keeps separators and junk out of storage keys.
EntityId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,100}$")]
OptionLabel = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=_SAYS_SOMETHING)
]


def _whole_number(value: Any) -> Any:
    """JSON has one kind of number, so 363.0 is the integer 363, as JSON Schema's integer type says
    (strict validation would refuse it); a boolean stays refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integer = Annotated[int, BeforeValidator(_whole_number)]
# A kanban's place in the sidebar (bounds inside, so the document carries them).
Position = Annotated[int, Field(ge=0, le=10_000), BeforeValidator(_whole_number)]

MAX_ASSIGNEES = 20


class Request(BaseModel):
    """Bodies reject unknown keys: a misspelt field is a 400, never silently dropped data."""

    # Strict: a boolean is not taken for a number (false for 0) nor a number for a boolean (0 for false).
    # Built on first use, so a function builds only the models of the routes it serves.
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


def read_only(description: str) -> Any:
    """A field that responses carry and a PUT may send back: accepted when it equals the stored value,
    a 400 naming it when it differs (checked by the logic layer with read_only_changes)."""
    return Field(default=None, description=f"{description} Read-only: accepted when unchanged.",
                 json_schema_extra={"readOnly": True})


def _no_nulls_and_not_empty(schema: dict[str, Any], nullable: frozenset[str] = frozenset()) -> None:
    """What PartialRequest checks, said in the document: a field is left out rather than sent as null,
    and at least one field is sent."""
    for name, prop in schema.get("properties", {}).items():
        if name in nullable:
            continue
        options = prop.get("anyOf", [])
        if {"type": "null"} in options:
            options.remove({"type": "null"})
            if len(options) == 1:
                prop.update(prop.pop("anyOf")[0])
            if prop.get("default", "") is None:
                del prop["default"]
    schema["minProperties"] = 1


class PartialRequest(Request):
    """A body whose fields are all optional; an explicit null is an error, not "leave unchanged" (except
    for the fields NULLABLE names, where null is a value: a webhook's kanbanId null means every kanban)."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        # Here rather than in model_config, where a subclass's own json_schema_extra would replace it.
        schema = handler(core_schema)
        _no_nulls_and_not_empty(handler.resolve_ref_schema(schema), cls.NULLABLE)
        return schema

    @model_validator(mode="after")
    def _reject_nulls_and_empty(self):
        for name in self.model_fields_set - self.NULLABLE:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        if not self.model_fields_set:
            raise ValueError("the body has no fields to update")
        return self


# --- records -----------------------------------------------------------------------------------------


class CreateRecordRequest(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "title": "Jane Smith - Website Inquiry",
        "status": "new",
        "customFields": {"field_email_123": "jane@example.com", "field_phone_456": "+1987654321",
                         "field_source_789": "Website"},
    }]})

    title: Title
    status: StatusValue | None = None
    customFields: dict[str, Any] = Field(default_factory=dict)
    assignedUserIds: list[EntityId] = Field(default_factory=list, max_length=MAX_ASSIGNEES)
    channelId: ChannelId | None = None


class UpdateRecordRequest(PartialRequest):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "contacted",
        "customFields": {"field_notes_abc": "Followed up via email on 2024-01-15"},
    }]})

    title: Title | None = None
    status: StatusValue | None = None
    # A null value removes that field; other fields merge into the stored ones.
    customFields: dict[str, Any] | None = None
    assignedUserIds: list[EntityId] | None = Field(default=None, max_length=MAX_ASSIGNEES)


# A batch operation's record is checked as an object here and against its request model when the
# operation runs, so one invalid record is that operation's 400, not the whole batch's.
_CREATE_BODY = Field(description="A body of POST /crm/records (CreateRecordRequest); checked per operation")
_IF_MATCH = Field(default=None, pattern=CONDITION,
                  description='As the If-Match header: the record\'s ETag such as "3", or *; a mismatch is '
                              "this operation's 412")


class BatchCreate(Request):
    action: Literal["create"]
    kanbanId: EntityId | None = Field(default=None, description="The kanban; the account's default one if absent")
    record: dict[str, Any] = _CREATE_BODY


class BatchUpsert(Request):
    action: Literal["upsert"]
    kanbanId: EntityId | None = Field(default=None, description="The kanban; the account's default one if absent")
    record: dict[str, Any] = Field(description=(
        "A body of POST /crm/records (CreateRecordRequest), as with upsert=true: the record its channelId, or "
        "else a value of a unique field, matches is updated (200), otherwise one is created (201)"
    ))


class BatchUpdate(Request):
    action: Literal["update"]
    recordId: EntityId
    record: dict[str, Any] = Field(
        description="A body of PUT /crm/records/{recordId} (UpdateRecordRequest); checked per operation"
    )
    ifMatch: str | None = _IF_MATCH


class BatchDelete(Request):
    action: Literal["delete"]
    recordId: EntityId
    ifMatch: str | None = _IF_MATCH


BatchOperation = Annotated[BatchCreate | BatchUpdate | BatchDelete | BatchUpsert, Field(discriminator="action")]
MAX_BATCH_OPERATIONS = 100


class BatchRequest(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"operations": [
        {"action": "create", "kanbanId": "kanban_123", "record": {"title": "Jane Smith", "channelId": "wa_1"}},
        {"action": "update", "recordId": "record_1704067200000_abc123", "record": {"status": "contacted"},
         "ifMatch": '"3"'},
        {"action": "delete", "recordId": "record_1704067200000_def456"},
        {"action": "upsert", "record": {"title": "Jane Smith", "channelId": "wa_1"}},
    ]}]})

    operations: list[BatchOperation] = Field(min_length=1, max_length=MAX_BATCH_OPERATIONS)


# --- kanbans, fields, statuses -------------------------------------------------------------------


class StatusInput(Request):
    value: StatusValue
    label: Name
    color: Color = "#1890ff"


_CHOICE_TYPES = ("select", "multiselect")
OptionList = Annotated[list[OptionLabel], Field(max_length=200, json_schema_extra={"uniqueItems": True})]


class FieldInput(Request):
    # What _options_match_type checks, said in the document: a select or multiselect field has options,
    # any other type none; only some types can be unique.
    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"type": {"enum": list(_CHOICE_TYPES)}}},
        "then": {"required": ["options"], "properties": {"options": {"type": "array", "minItems": 1}}},
        "else": {"properties": {"options": {"type": "null"}}},
        # And only a text, email, phone or url field can be unique.
        "allOf": [{"if": {"properties": {"type": {"not": {"enum": list(UNIQUE_FIELD_TYPES)}}}},
                   "then": {"properties": {"unique": {"const": False}}}}],
    })

    id: EntityId | None = Field(default=None, description="Set to keep an existing field; omit for a new one.")
    name: Name
    type: FieldType
    description: Description = ""
    options: OptionList | None = Field(
        default=None,
        description="The choices of a select or multiselect field (at least one, distinct ignoring case); "
                    "null or absent for any other type.",
    )
    boundToChannels: list[Name] = Field(default_factory=list, max_length=50)
    unique: bool = Field(
        default=False,
        description="No two records of the kanban may hold the same value (compared trimmed and lowercased; "
                    "phones by their digits and +). Only for text, email, phone and url fields.",
    )
    order: Integer | None = read_only("The field's position, from its place in the list.")
    isSystem: bool | None = read_only("Whether the field is a system field.")

    @model_validator(mode="after")
    def _options_match_type(self):
        if self.type in _CHOICE_TYPES:
            if not self.options:
                raise ValueError(f"field {self.name!r} of type {self.type} needs options")
            if len({o.lower() for o in self.options}) != len(self.options):
                raise ValueError(f"field {self.name!r} has duplicate options")
        elif self.options is not None:
            raise ValueError(f"field {self.name!r} of type {self.type} cannot have options")
        if self.unique and self.type not in UNIQUE_FIELD_TYPES:
            raise ValueError(f"field {self.name!r} of type {self.type} cannot be unique; "
                             f"only {', '.join(UNIQUE_FIELD_TYPES)} fields can")
        return self


DEFAULT_STATUSES = (
    StatusInput(value="new", label="New", color="#1890ff"),
    StatusInput(value="contacted", label="Contacted", color="#52c41a"),
    StatusInput(value="qualified", label="Qualified", color="#722ed1"),
    StatusInput(value="closed", label="Closed Won", color="#13c2c2"),
)


class NewFieldInput(FieldInput):
    """A field of a new kanban: there is no field yet whose id it could keep."""

    id: SkipJsonSchema[EntityId | None] = None


class CreateKanbanRequest(Request):
    name: Name
    description: Description = ""
    isDefault: bool = False
    order: Position | None = None
    statuses: list[StatusInput] = Field(default_factory=lambda: list(DEFAULT_STATUSES), min_length=1, max_length=50)
    fields: list[NewFieldInput] = Field(default_factory=list, max_length=100)


class UpdateKanbanRequest(PartialRequest):
    """Also takes back a kanban as GET answers it, read-only fields included."""

    id: str | None = read_only("The kanban's id.")
    slug: str | None = read_only("Derived from the name.")
    createdAt: Integer | None = read_only("Creation time (ms).")
    updatedAt: Integer | None = read_only("Time of the last change (ms).")
    name: Name | None = None
    description: Description | None = None
    isDefault: bool | None = None
    order: Position | None = None
    # Both lists replace the kanban's lists whole; fields keep their ids by sending them.
    statuses: list[StatusInput] | None = Field(default=None, min_length=1, max_length=50)
    fields: list[FieldInput] | None = Field(default=None, max_length=100)


# --- users and tokens ------------------------------------------------------------------------------


class CreateUserRequest(Request):
    name: Name
    email: Email
    role: Role = "member"
    kanbanIds: list[EntityId] = Field(default_factory=list, max_length=500)


class UpdateUserRequest(PartialRequest):
    """Also takes back a user as GET answers it, read-only fields included."""

    userId: str | None = read_only("The user's id.")
    accountId: str | None = read_only("The user's account.")
    createdAt: Integer | None = read_only("Creation time (ms).")
    updatedAt: Integer | None = read_only("Time of the last change (ms).")
    name: Name | None = None
    email: Email | None = None
    role: Role | None = None
    kanbanIds: list[EntityId] | None = Field(default=None, max_length=500)


class CreateTokenRequest(Request):
    userId: EntityId
    name: Name = "API token"




def read_only_changes(request: BaseModel, current: dict[str, Any]) -> list[str]:
    """The read-only fields a request sets to something other than their current value."""
    return [
        name for name in sorted(request.model_fields_set)
        if (type(request).model_fields[name].json_schema_extra or {}).get("readOnly")
        and getattr(request, name) != current.get(name)
    ]


# --- responses -------------------------------------------------------------------------------------
# Every answer body is one of these models. They read domain objects directly (from_attributes, each
# camelCase field from the snake_case attribute of the same name), so there are no hand-written mappers.


class ResponseModel(BaseModel):
    model_config = ConfigDict(
        defer_build=True,  # built on first use, as requests are
        from_attributes=True,
        validate_by_name=True,
        validate_by_alias=True,
        alias_generator=AliasGenerator(validation_alias=to_snake),
    )


class ErrorResponse(ResponseModel):
    """The error format of every failure, whatever answers it (a function or the gateway)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"error": "Bad Request", "message": "title is required"}]}
    )

    error: str = Field(description="The HTTP reason phrase of the status")
    message: str = Field(description="What went wrong, naming the parameter or field at fault")


class MessageResponse(ResponseModel):
    message: str


_RECORD_EXAMPLE = {
    "recordId": "record_1704067200000_abc123",
    "accountId": "account_xyz",
    "kanbanId": "kanban_123",
    "title": "John Doe - New Lead",
    "status": "new",
    "customFields": {"field_email_123": "john@example.com", "field_phone_456": "+1234567890",
                     "field_value_789": 5000},
    "assignedUserIds": ["user_abc"],
    "channelId": "channel_123",
    "createdAt": 1704067200000,
    "updatedAt": 1704153600000,
    "createdBy": "user_abc",
    "updatedBy": "user_abc",
}


class RecordResponse(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_RECORD_EXAMPLE]})

    recordId: str
    accountId: str
    kanbanId: str
    title: str
    status: str
    customFields: dict[str, Any] = Field(description="Custom field values keyed by field id")
    assignedUserIds: list[str]
    channelId: str | None = Field(description="Channel id for duplicate prevention")
    createdAt: int = Field(description="Unix time in milliseconds")
    updatedAt: int = Field(description="Unix time in milliseconds")
    createdBy: str
    updatedBy: str


class RecordPage(ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_RECORD_EXAMPLE], "nextToken": "eyJ0aXRsZSI6..."}]}
    )

    items: list[RecordResponse]
    nextToken: str | None = Field(description="Pass it back for the next page; null on the last page")


class TrashedRecordResponse(RecordResponse):
    """A record in the trash, as it was deleted."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_RECORD_EXAMPLE, "deletedAt": 1704240000000, "deletedBy": "user_abc"}
    ]})

    deletedAt: int = Field(description="When it was deleted: Unix time in milliseconds")
    deletedBy: str = Field(description="The user who deleted it")


class TrashPage(ResponseModel):
    """One page of the trash (GET /crm/records?deleted=true), newest deletion first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [{**_RECORD_EXAMPLE, "deletedAt": 1704240000000, "deletedBy": "user_abc"}],
        "nextToken": None,
    }]})

    items: list[TrashedRecordResponse]
    nextToken: str | None = Field(description="Pass it back for the next page; null on the last page")


class SearchResponse(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [_RECORD_EXAMPLE], "total": 1, "page": 1, "pageSize": 20, "totalPages": 1}
    ]})

    items: list[RecordResponse]
    total: int
    page: int
    pageSize: int
    totalPages: int


class StatusCountResponse(ResponseModel):
    key: str
    count: int


class AggregationsResponse(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": [
        {"key": "new", "count": 25}, {"key": "contacted", "count": 15},
        {"key": "qualified", "count": 8}, {"key": "closed", "count": 42},
    ]}]})

    status: list[StatusCountResponse]


_STATUS_EXAMPLES = [
    {"value": "new", "label": "New", "color": "#1890ff"},
    {"value": "contacted", "label": "Contacted", "color": "#52c41a"},
    {"value": "qualified", "label": "Qualified", "color": "#722ed1"},
    {"value": "closed", "label": "Closed Won", "color": "#13c2c2"},
]


class StatusResponse(ResponseModel):
    value: str
    label: str
    color: str


class StatusesResponse(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"statuses": _STATUS_EXAMPLES}]})

    statuses: list[StatusResponse]


def _is_none(value: Any) -> bool:
    return value is None


class BatchResult(ResponseModel):
    """One operation's outcome: a status as its single-record route would answer, and the record (the
    deleted one for a delete), or the error and message of its failure."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": 201, "record": _RECORD_EXAMPLE},
        {"status": 412, "error": "Precondition Failed",
         "message": "record record_1704067200000_abc123 is at version 4, which If-Match does not name; "
                    "nothing was written"},
    ]})

    status: int = Field(description="201 created; 200 updated, deleted, or the record a channelId already has; "
                                    "4xx or 5xx failed")
    record: RecordResponse | None = Field(default=None, exclude_if=_is_none)
    error: str | None = Field(default=None, exclude_if=_is_none, description="The HTTP reason phrase of the status")
    message: str | None = Field(default=None, exclude_if=_is_none, description="What went wrong")


class BatchResponse(ResponseModel):
    results: list[BatchResult] = Field(description="One result per operation, in the order of the operations")


class FieldResponse(ResponseModel):
    """A field definition as a kanban holds it."""

    id: str
    name: str
    type: FieldType
    description: str
    options: list[str] | None = Field(default=None, exclude_if=_is_none,
                                      description="The choices of a select or multiselect field")
    order: int
    isSystem: bool
    boundToChannels: list[str]
    unique: bool = Field(description="No two records of the kanban hold the same value")


class FieldDefinitionResponse(FieldResponse):
    """A field definition as /crm/fields lists it: its id under fieldId, with its kanban for all=true."""

    id: str = Field(serialization_alias="fieldId")
    kanbanId: str | None = Field(default=None, exclude_if=_is_none, description="Only with all=true")


class FieldsResponse(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"fields": [
        {"fieldId": "field_email_123", "name": "Email", "type": "email", "description": "Contact email address",
         "order": 0, "isSystem": False, "boundToChannels": ["WhatsApp Business"], "unique": False},
        {"fieldId": "field_source_789", "name": "Lead Source", "type": "select",
         "description": "How the lead found us", "options": ["Website", "Referral", "Social Media", "Cold Call"],
         "order": 2, "isSystem": False, "boundToChannels": [], "unique": False},
    ]}]})

    fields: list[FieldDefinitionResponse]


_KANBAN_EXAMPLE = {
    "id": "kanban_1704067200000_abc123def",
    "name": "Sales Pipeline",
    "slug": "sales-pipeline",
    "description": "Main sales pipeline for tracking leads",
    "isDefault": True,
    "order": 0,
    "createdAt": 1704067200000,
    "updatedAt": 1704153600000,
    "statuses": _STATUS_EXAMPLES,
    "fields": [
        {"id": "field_1704067200001_xyz789", "name": "Email", "type": "email",
         "description": "Contact email address", "order": 0, "isSystem": False, "boundToChannels": [],
         "unique": True},
        {"id": "field_1704067200004_ghi012", "name": "Lead Source", "type": "select",
         "description": "Where the lead came from", "options": ["Website", "Referral", "Social Media", "Cold Call"],
         "order": 1, "isSystem": False, "boundToChannels": [], "unique": False},
    ],
}


class KanbanResponse(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_KANBAN_EXAMPLE]})

    id: str = Field(validation_alias="kanban_id")
    name: str
    slug: str = Field(description="URL-friendly version of the name")
    description: str
    isDefault: bool
    order: int = Field(description="Display order in the sidebar")
    createdAt: int
    updatedAt: int
    statuses: list[StatusResponse]
    fields: list[FieldResponse]


class KanbanPage(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_KANBAN_EXAMPLE], "nextToken": None}]})

    items: list[KanbanResponse]
    nextToken: str | None


class UserResponse(ResponseModel):
    userId: str
    accountId: str
    name: str
    email: str
    role: Role
    kanbanIds: list[str] = Field(description="The kanbans a member may use (admins use every kanban)")
    createdAt: int
    updatedAt: int


class UserPage(ResponseModel):
    items: list[UserResponse]
    nextToken: str | None


class DeletedUserResponse(ResponseModel):
    message: str = "User deleted successfully"
    user: UserResponse
    revokedTokenIds: list[str]


class TokenResponse(ResponseModel):
    """A token's metadata. The secret is never part of it: it is shown once, at creation."""

    tokenId: str
    accountId: str
    userId: str
    name: str
    createdAt: int
    revokedAt: int | None


class CreatedTokenResponse(TokenResponse):
    token: str = Field(validation_alias="bearer",
                       description="The Bearer token. Shown only in this response; store it now.")


class TokenPage(ResponseModel):
    items: list[TokenResponse]
    nextToken: str | None


class RevokedTokenResponse(ResponseModel):
    message: str = "API token revoked successfully"
    token: TokenResponse


# --- history and change feed -----------------------------------------------------------------------

ChangeActionField = Literal["created", "updated", "deleted", "restored"]
_CHANGES_DESCRIPTION = (
    'What changed, {"<attribute>": {"from": ..., "to": ...}}: title, status, assignedUserIds and '
    "customFields.<fieldId>; for created every attribute set (from null), for deleted and restored {}"
)


class HistoryEntryResponse(ResponseModel):
    version: int
    action: ChangeActionField
    at: int = Field(description="When the change happened (unix time in milliseconds)")
    by: str = Field(description="The user who made it")
    changes: dict[str, Any] = Field(description=_CHANGES_DESCRIPTION)


class HistoryPage(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"version": 2, "action": "updated", "at": 1704153600000, "by": "user_abc",
         "changes": {"status": {"from": "new", "to": "contacted"}}},
        {"version": 1, "action": "created", "at": 1704067200000, "by": "user_abc",
         "changes": {"title": {"from": None, "to": "John Doe - New Lead"}, "status": {"from": None, "to": "new"}}},
    ], "nextToken": None}]})

    items: list[HistoryEntryResponse] = Field(description="Newest first")
    nextToken: str | None = Field(description="Pass it back for the next page; null on the last page")


class FeedEntryResponse(ResponseModel):
    recordId: str
    kanbanId: str
    action: ChangeActionField
    version: int
    at: int = Field(description="When the change happened (unix time in milliseconds)")
    record: RecordResponse | None = Field(description="The record after the change; null when it was deleted")


class ChangeFeedResponse(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [
        {"recordId": "record_1704067200000_abc123", "kanbanId": "kanban_123", "action": "updated", "version": 2,
         "at": 1704153600000, "record": _RECORD_EXAMPLE},
    ], "nextToken": "eyJhZnRlciI6MTJ9.c2lnbmF0dXJl"}]})

    items: list[FeedEntryResponse] = Field(description="In the order the changes were recorded")
    nextToken: str = Field(description="The cursor after these changes (where the client is when there are none): "
                                       "pass it as since to get what follows")
# --- webhooks ------------------------------------------------------------------------------------

WebhookUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
WebhookEvents = Annotated[list[WebhookEventType], Field(min_length=1, max_length=len(WEBHOOK_EVENT_TYPES))]


class CreateWebhookRequest(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "url": "https://hooks.example.com/crm", "events": ["record.created", "record.status_changed"],
        "kanbanId": "kanban_123", "description": "Sales alerts",
    }]})

    url: WebhookUrl = Field(description="An https URL whose host resolves to public addresses only")
    events: WebhookEvents = Field(description="The event types to send (at least one)")
    kanbanId: EntityId | None = Field(default=None, description="Only events of this kanban (default: all)")
    description: Description = ""


class UpdateWebhookRequest(PartialRequest):
    """Also takes back a webhook as GET answers it, read-only fields included."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"kanbanId"})

    webhookId: str | None = read_only("The webhook's id.")
    createdAt: Integer | None = read_only("Creation time (ms).")
    updatedAt: Integer | None = read_only("Time of the last change (ms).")
    consecutiveFailures: Integer | None = read_only("Deliveries failed in a row.")
    url: WebhookUrl | None = None
    events: WebhookEvents | None = None
    kanbanId: EntityId | None = Field(default=None, description="Only events of this kanban; null: of every kanban")
    description: Description | None = None
    active: bool | None = Field(default=None, description="true reactivates the webhook (and resets its failures)")


class WebhookResponse(ResponseModel):
    """A webhook's settings. The secret is never part of it: it is shown once, at creation."""

    webhookId: str
    url: str
    events: list[str]
    kanbanId: str | None
    description: str
    active: bool = Field(description="false after 100 deliveries in a row failed (or when set so)")
    consecutiveFailures: int
    createdAt: int
    updatedAt: int


class CreatedWebhookResponse(WebhookResponse):
    secret: str = Field(description="The signing secret (X-CRM-Signature). Shown only in this response; "
                                    "store it now.")


class WebhookPage(ResponseModel):
    items: list[WebhookResponse]
    nextToken: str | None


class DeletedWebhookResponse(ResponseModel):
    message: str = "Webhook deleted successfully"
    webhook: WebhookResponse


class DeliveryResponse(ResponseModel):
    deliveryId: str
    webhookId: str
    eventId: str
    type: str
    status: DeliveryStatus = Field(description="pending (being tried), succeeded (a 2xx) or failed (given up)")
    attempts: int
    lastStatusCode: int | None = Field(description="The receiver's status of the last attempt (null: none, or "
                                                   "no answer)")
    lastError: str | None = Field(description="Why the last attempt failed, when it did")
    nextAttemptAt: int | None = Field(description="When the next attempt is due (ms); null unless pending")
    createdAt: int
    updatedAt: int


class DeliveryPage(ResponseModel):
    items: list[DeliveryResponse]
    nextToken: str | None
