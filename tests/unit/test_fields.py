"""Custom-field validation and normalization, without I/O."""

import pytest

from shared.errors import ValidationFailed
from shared.logic import fields
from shared.models.domain import FieldDefinition, Kanban, StatusDefinition


def kanban(*definitions: FieldDefinition) -> Kanban:
    return Kanban(kanban_id="kanban_1", account_id="account_1", name="K", slug="k", description="", order=0,
                  statuses=(StatusDefinition(value="new", label="New", color="#000000"),), fields=definitions,
                  created_at=1, updated_at=1, version=1)


EMAIL = FieldDefinition(id="f_email", name="Email", type="email")
PHONE = FieldDefinition(id="f_phone", name="Phone", type="phone")
TAGS = FieldDefinition(id="f_tags", name="Tags", type="multiselect", options=("Hot", "Cold", "VIP"))
NOTES = FieldDefinition(id="f_notes", name="Notes", type="textarea")
AMOUNT = FieldDefinition(id="f_amount", name="Amount", type="currency")


@pytest.mark.parametrize(("field_type", "raw", "normalized"), [
    ("email", "  John@Example.COM ", "john@example.com"),
    ("phone", "+1 (234) 567-890", "+1234567890"),
    ("phone", "234.567.890", "234567890"),
    ("text", " ACME Corp ", "acme corp"),
])
def test_normalize(field_type, raw, normalized):
    assert fields.normalize(field_type, raw) == normalized


def test_index_entries_cover_indexed_types_only_one_per_option():
    board = kanban(EMAIL, PHONE, TAGS, NOTES, AMOUNT)
    entries = fields.index_entries(board, {
        "f_email": "A@B.co", "f_phone": "+1 234", "f_tags": ["Hot", "VIP"], "f_notes": "long text", "f_amount": 5,
        "f_removed": "value of a field the kanban no longer has",
    })
    assert sorted(entries) == [("f_email", "a@b.co"), ("f_phone", "+1234"), ("f_tags", "hot"), ("f_tags", "vip")]


def test_too_many_indexed_values_are_refused():
    many = FieldDefinition(id="f_many", name="Many", type="multiselect", options=tuple(f"o{i}" for i in range(40)))
    with pytest.raises(ValidationFailed, match="at most 25"):
        fields.index_entries(kanban(many), {"f_many": [f"o{i}" for i in range(26)]})


def test_validate_changes_keeps_removals_only_on_update():
    board = kanban(EMAIL)
    assert fields.validate_changes(board, {"f_email": None}, stored={}) == {"f_email": None}
    assert fields.validate_changes(board, {"f_email": None}) == {}


def test_null_removes_a_stored_field_the_kanban_dropped_but_never_an_unknown_one():
    board = kanban(EMAIL)
    assert fields.validate_changes(board, {"f_gone": None}, stored={"f_gone": "x"}) == {"f_gone": None}
    with pytest.raises(ValidationFailed, match="f_never"):
        fields.validate_changes(board, {"f_never": None}, stored={"f_gone": "x"})


@pytest.mark.parametrize(("definition", "value"), [
    (AMOUNT, 1e-140),  # below DynamoDB's smallest number
    (AMOUNT, -1e31),
    (FieldDefinition(id="f_when", name="When", type="datetime"), "0001-01-01T00:00:00+14:00"),
    (FieldDefinition(id="f_when", name="When", type="datetime"), "9999-12-31T23:59:59-14:00"),
])
def test_values_storage_cannot_hold_are_validation_errors(definition, value):
    with pytest.raises(ValidationFailed, match=definition.id):
        fields.validate_changes(kanban(definition), {definition.id: value})


def test_merge_drops_removed_fields_and_limits_size():
    assert fields.merge({"a": 1, "b": 2}, {"b": None, "c": 3}) == {"a": 1, "c": 3}
    with pytest.raises(ValidationFailed, match="too large"):
        fields.merge({}, {f"f{i}": "x" * 20_000 for i in range(16)})


def test_select_options_match_case_insensitively_and_store_the_defined_spelling():
    board = kanban(TAGS)
    assert fields.validate_changes(board, {"f_tags": ["vip", "HOT", "Vip"]}) == {
        "f_tags": ["VIP", "Hot"]
    }
