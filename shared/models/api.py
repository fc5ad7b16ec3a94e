"""The API contract: request bodies and responses, in the reference's camelCase shapes."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.models.domain import (
    ApiToken,
    FieldDefinition,
    FieldType,
    Kanban,
    Record,
    Role,
    StatusDefinition,
    StatusValue,
    User,
)

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
ChannelId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
# Ids that clients send in bodies; the shape check keeps separators and junk out of storage keys.
EntityId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,100}$")]
OptionLabel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]

MAX_ASSIGNEES = 20


class Request(BaseModel):
    """Bodies reject unknown keys: a misspelt field is a 400, never silently dropped data."""

    model_config = ConfigDict(extra="forbid", str_strict=True)


class PartialRequest(Request):
    """A body whose fields are all optional; an explicit null is an error, not "leave unchanged"."""

    @model_validator(mode="after")
    def _reject_nulls_and_empty(self):
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        if not self.model_fields_set:
            raise ValueError("the body has no fields to update")
        return self


# --- records -----------------------------------------------------------------------------------------


class CreateRecordRequest(Request):
    title: Title
    status: StatusValue | None = None
    customFields: dict[str, Any] = Field(default_factory=dict)
    assignedUserIds: list[EntityId] = Field(default_factory=list, max_length=MAX_ASSIGNEES)
    channelId: ChannelId | None = None


class UpdateRecordRequest(PartialRequest):
    title: Title | None = None
    status: StatusValue | None = None
    # A null value removes that field; other fields merge into the stored ones.
    customFields: dict[str, Any] | None = None
    assignedUserIds: list[EntityId] | None = Field(default=None, max_length=MAX_ASSIGNEES)


class RecordResponse(BaseModel):
    recordId: str
    accountId: str
    kanbanId: str
    title: str
    status: str
    customFields: dict[str, Any]
    assignedUserIds: list[str]
    channelId: str | None
    createdAt: int
    updatedAt: int
    createdBy: str
    updatedBy: str

    @classmethod
    def of(cls, record: Record) -> "RecordResponse":
        return cls(
            recordId=record.record_id,
            accountId=record.account_id,
            kanbanId=record.kanban_id,
            title=record.title,
            status=record.status,
            customFields=record.custom_fields,
            assignedUserIds=list(record.assigned_user_ids),
            channelId=record.channel_id,
            createdAt=record.created_at,
            updatedAt=record.updated_at,
            createdBy=record.created_by,
            updatedBy=record.updated_by,
        )


# --- kanbans, fields, statuses -------------------------------------------------------------------


class StatusInput(Request):
    value: StatusValue
    label: Name
    color: Color = "#1890ff"


class FieldInput(Request):
    id: EntityId | None = Field(default=None, description="Set to keep an existing field; omit for a new one.")
    name: Name
    type: FieldType
    description: Description = ""
    options: list[OptionLabel] | None = Field(default=None, max_length=200)
    boundToChannels: list[Name] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _options_match_type(self):
        if self.type in ("select", "multiselect"):
            if not self.options:
                raise ValueError(f"field {self.name!r} of type {self.type} needs options")
            if len({o.lower() for o in self.options}) != len(self.options):
                raise ValueError(f"field {self.name!r} has duplicate options")
        elif self.options is not None:
            raise ValueError(f"field {self.name!r} of type {self.type} cannot have options")
        return self


DEFAULT_STATUSES = (
    StatusInput(value="new", label="New", color="#1890ff"),
    StatusInput(value="contacted", label="Contacted", color="#52c41a"),
    StatusInput(value="qualified", label="Qualified", color="#722ed1"),
    StatusInput(value="closed", label="Closed Won", color="#13c2c2"),
)


class CreateKanbanRequest(Request):
    name: Name
    description: Description = ""
    isDefault: bool = False
    order: int | None = Field(default=None, ge=0, le=10_000)
    statuses: list[StatusInput] = Field(default_factory=lambda: list(DEFAULT_STATUSES), min_length=1, max_length=50)
    fields: list[FieldInput] = Field(default_factory=list, max_length=100)


class UpdateKanbanRequest(PartialRequest):
    name: Name | None = None
    description: Description | None = None
    isDefault: bool | None = None
    order: int | None = Field(default=None, ge=0, le=10_000)
    # Both lists replace the kanban's lists whole; fields keep their ids by sending them.
    statuses: list[StatusInput] | None = Field(default=None, min_length=1, max_length=50)
    fields: list[FieldInput] | None = Field(default=None, max_length=100)


class StatusResponse(BaseModel):
    value: str
    label: str
    color: str

    @classmethod
    def of(cls, status: StatusDefinition) -> "StatusResponse":
        return cls(value=status.value, label=status.label, color=status.color)


def field_definition_body(field: FieldDefinition, id_key: str) -> dict[str, Any]:
    """A field definition as the reference shows it: under "id" in a kanban, "fieldId" in /crm/fields."""
    body: dict[str, Any] = {
        id_key: field.id,
        "name": field.name,
        "type": field.type,
        "description": field.description,
    }
    if field.options is not None:
        body["options"] = list(field.options)
    body |= {"order": field.order, "isSystem": field.is_system, "boundToChannels": list(field.bound_to_channels)}
    return body


def kanban_body(kanban: Kanban, is_default: bool) -> dict[str, Any]:
    return {
        "id": kanban.kanban_id,
        "name": kanban.name,
        "slug": kanban.slug,
        "description": kanban.description,
        "isDefault": is_default,
        "order": kanban.order,
        "createdAt": kanban.created_at,
        "updatedAt": kanban.updated_at,
        "statuses": [StatusResponse.of(s).model_dump() for s in kanban.statuses],
        "fields": [field_definition_body(f, "id") for f in kanban.fields],
    }


# --- users and tokens ------------------------------------------------------------------------------


class CreateUserRequest(Request):
    name: Name
    email: Email
    role: Role = "member"
    kanbanIds: list[EntityId] = Field(default_factory=list, max_length=500)


class UpdateUserRequest(PartialRequest):
    name: Name | None = None
    email: Email | None = None
    role: Role | None = None
    kanbanIds: list[EntityId] | None = Field(default=None, max_length=500)


class UserResponse(BaseModel):
    userId: str
    accountId: str
    name: str
    email: str
    role: str
    kanbanIds: list[str]
    createdAt: int
    updatedAt: int

    @classmethod
    def of(cls, user: User) -> "UserResponse":
        return cls(
            userId=user.user_id,
            accountId=user.account_id,
            name=user.name,
            email=user.email,
            role=user.role,
            kanbanIds=list(user.kanban_ids),
            createdAt=user.created_at,
            updatedAt=user.updated_at,
        )


class CreateTokenRequest(Request):
    userId: EntityId
    name: Name = "API token"


class TokenResponse(BaseModel):
    """A token's metadata. The secret is never part of it: it is shown once, at creation."""

    tokenId: str
    accountId: str
    userId: str
    name: str
    createdAt: int
    revokedAt: int | None

    @classmethod
    def of(cls, token: ApiToken) -> "TokenResponse":
        return cls(
            tokenId=token.token_id,
            accountId=token.account_id,
            userId=token.user_id,
            name=token.name,
            createdAt=token.created_at,
            revokedAt=token.revoked_at,
        )


class CreatedTokenResponse(TokenResponse):
    token: str = Field(description="The Bearer token. Shown only in this response; store it now.")
