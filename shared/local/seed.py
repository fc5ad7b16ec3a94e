"""The demo account of the local stack: the reference's "Sales Pipeline" kanban and example records,
under the ids the reference's examples use, so its curl examples run verbatim."""

from typing import Any

from shared.logic import fields
from shared.logic.admin import issue_token
from shared.models.domain import Account, FieldDefinition, Kanban, Record, StatusDefinition, User
from shared.repository import accounts, kanbans, records

DEMO_ACCOUNT_ID = "account_xyz"
DEMO_ADMIN_ID = "user_abc"
DEMO_KANBAN_ID = "kanban_123"
_CREATED = 1704067200000
_UPDATED = 1704153600000

_STATUSES = (
    StatusDefinition(value="new", label="New", color="#1890ff"),
    StatusDefinition(value="contacted", label="Contacted", color="#52c41a"),
    StatusDefinition(value="qualified", label="Qualified", color="#722ed1"),
    StatusDefinition(value="closed", label="Closed Won", color="#13c2c2"),
)
_FIELDS = (
    FieldDefinition(id="field_email_123", name="Email", type="email", description="Contact email address", order=0,
                    bound_to_channels=("WhatsApp Business",)),
    FieldDefinition(id="field_phone_456", name="Phone", type="phone", description="Contact phone number", order=1),
    FieldDefinition(id="field_value_789", name="Deal Value", type="currency", description="Expected deal value",
                    order=2),
    FieldDefinition(id="field_source_789", name="Lead Source", type="select", description="How the lead found us",
                    options=("Website", "Referral", "Social Media", "Cold Call"), order=3),
    FieldDefinition(id="field_notes_abc", name="Notes", type="textarea", description="Free-form notes", order=4),
)


def _record(record_id: str, title: str, custom_fields: dict[str, Any], created_at: int, updated_at: int,
            assigned: tuple[str, ...], channel_id: str | None) -> Record:
    return Record(
        record_id=record_id, account_id=DEMO_ACCOUNT_ID, kanban_id=DEMO_KANBAN_ID, title=title, status="new",
        custom_fields=custom_fields, assigned_user_ids=assigned, channel_id=channel_id, created_at=created_at,
        updated_at=updated_at, created_by=DEMO_ADMIN_ID, updated_by=DEMO_ADMIN_ID, version=1,
    )


def seed_demo_account() -> dict[str, str]:
    """Create the demo account, its admin, kanban and example records; returns a fresh admin token."""
    accounts.create_account(Account(account_id=DEMO_ACCOUNT_ID, name="Demo Company", default_kanban_id=None,
                                    created_at=_CREATED))
    accounts.put_user(User(user_id=DEMO_ADMIN_ID, account_id=DEMO_ACCOUNT_ID, name="Demo Admin",
                           email="admin@example.com", role="admin", kanban_ids=(), created_at=_CREATED,
                           updated_at=_CREATED), must_exist=False)
    kanban = Kanban(
        kanban_id=DEMO_KANBAN_ID, account_id=DEMO_ACCOUNT_ID, name="Sales Pipeline", slug="sales-pipeline",
        description="Main sales pipeline for tracking leads", order=0, statuses=_STATUSES, fields=_FIELDS,
        created_at=_CREATED, updated_at=_UPDATED, version=1,
    )
    kanbans.create_kanban(kanban, make_default=True)
    for record in (
        _record("record_1704067200000_abc123", "John Doe - New Lead",
                {"field_email_123": "john@example.com", "field_phone_456": "+1234567890", "field_value_789": 5000},
                _CREATED, _UPDATED, (DEMO_ADMIN_ID,), "channel_123"),
        _record("record_1704067200001_def456", "Jane Smith - Website Inquiry",
                {"field_email_123": "jane@example.com", "field_phone_456": "+1987654321",
                 "field_source_789": "Website"},
                _CREATED + 1, _CREATED + 1, (), None),
    ):
        entries = fields.index_entries(kanban, record.custom_fields)
        records.create_record(records.NewRecord(record, kanban, entries, fields.unique_entries(kanban, entries)))
    token = issue_token(DEMO_ACCOUNT_ID, DEMO_ADMIN_ID, "demo admin token")
    return {"accountId": DEMO_ACCOUNT_ID, "userId": DEMO_ADMIN_ID, "kanbanId": DEMO_KANBAN_ID, "token": token.bearer}
