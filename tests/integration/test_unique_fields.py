"""Unique fields: no two records of a kanban hold one normalized value of a field marked unique; a
lock item per value, taken and released in the record's own transaction."""

from typing import Any

import boto3
import pytest

UNIQUE_TYPES = ("text", "email", "phone", "url")


def _locks(table: str) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return [i for i in items if i["PK"]["S"].startswith("UNIQUE#")]


def _make_unique(api, board: dict[str, Any], *types: str):
    """PUT the board's fields back as GET answered them, with the fields of `types` unique."""
    fields = [{**f, "unique": f["type"] in types} for f in api.get(f"/kanbans/{board['id']}").json()["fields"]]
    return api.put(f"/kanbans/{board['id']}", {"fields": fields})


def _create(api, board, fields: dict[str, Any], title: str = "Lead"):
    return api.post("/crm/records", {"title": title, "customFields": fields}, query={"kanbanId": board["id"]})


@pytest.mark.parametrize("field_type", UNIQUE_TYPES)
def test_text_email_phone_and_url_fields_can_be_unique(api, board, field_type):
    response = _make_unique(api, board, field_type)

    assert response.status == 200, response.body
    assert [f["type"] for f in response.json()["fields"] if f["unique"]] == [field_type]
    listed = api.get("/crm/fields", query={"kanbanId": board["id"]}).json()["fields"]
    assert [f["type"] for f in listed if f["unique"]] == [field_type]


@pytest.mark.parametrize("field_type", ["textarea", "number", "select", "multiselect", "boolean", "date"])
def test_other_field_types_cannot_be_unique(api, field_type):
    options = ["A", "B"] if "select" in field_type else None
    response = api.post("/kanbans", {"name": "Bad", "fields": [
        {"name": "F", "type": field_type, "options": options, "unique": True},
    ]})

    assert response.status == 400
    assert "cannot be unique" in response.json()["message"]


def test_a_fields_unique_flag_defaults_to_false(api, board):
    assert {f["unique"] for f in board["fields"]} == {False}


def test_a_second_record_with_the_same_normalized_value_is_a_409_naming_field_and_holder(api, unique_board):
    first = _create(api, unique_board, {unique_board["f"]["Email"]: "Jane@Example.com"}).json()

    second = _create(api, unique_board, {unique_board["f"]["Email"]: "  jane@example.COM "})

    assert second.status == 409
    message = second.json()["message"]
    assert unique_board["f"]["Email"] in message and "(Email)" in message and first["recordId"] in message
    assert api.get("/crm/records", query={"kanbanId": unique_board["id"]}).json()["items"] == [first]


def test_phones_are_compared_by_their_digits(api, unique_board):
    _create(api, unique_board, {unique_board["f"]["Phone"]: "+1 (555) 010-0200"})

    assert _create(api, unique_board, {unique_board["f"]["Phone"]: "+15550100200"}).status == 409
    assert _create(api, unique_board, {unique_board["f"]["Phone"]: "+15550100201"}).status == 201


def test_fields_that_are_not_unique_may_repeat(api, unique_board):
    for _ in range(2):
        assert _create(api, unique_board, {unique_board["f"]["Company"]: "Acme"}).status == 201


def test_the_same_value_in_another_kanban_is_fine(api, unique_board):
    other = api.post("/kanbans", {"name": "Other", "fields": [{"name": "Email", "type": "email", "unique": True}]})
    other_field = other.json()["fields"][0]["id"]
    _create(api, unique_board, {unique_board["f"]["Email"]: "jane@example.com"})

    response = api.post("/crm/records", {"title": "x", "customFields": {other_field: "jane@example.com"}},
                        query={"kanbanId": other.json()["id"]})

    assert response.status == 201


def test_an_update_to_a_held_value_is_a_409_and_changes_nothing(api, unique_board, table):
    email = unique_board["f"]["Email"]
    first = _create(api, unique_board, {email: "jane@example.com"}).json()
    second = _create(api, unique_board, {email: "john@example.com"}).json()
    before = _locks(table)

    response = api.put(f"/crm/records/{second['recordId']}", {"customFields": {email: "JANE@example.com"}})

    assert response.status == 409
    assert first["recordId"] in response.json()["message"]
    assert api.get(f"/crm/records/{second['recordId']}").json() == second
    assert _locks(table) == before


def test_changing_a_value_releases_the_old_lock_and_takes_the_new(api, unique_board, table):
    email = unique_board["f"]["Email"]
    first = _create(api, unique_board, {email: "jane@example.com"}).json()

    assert api.put(f"/crm/records/{first['recordId']}", {"customFields": {email: "jane@new.example"}}).status == 200

    assert [lock["PK"]["S"].rsplit("#", 1)[1] for lock in _locks(table)] == ["jane@new.example"]
    assert _create(api, unique_board, {email: "jane@example.com"}).status == 201
    assert _create(api, unique_board, {email: "jane@new.example"}).status == 409


def test_an_update_that_keeps_its_value_keeps_its_lock(api, unique_board, table):
    email = unique_board["f"]["Email"]
    first = _create(api, unique_board, {email: "jane@example.com"}).json()

    response = api.put(f"/crm/records/{first['recordId']}",
                       {"title": "Renamed", "customFields": {email: "JANE@example.com"}})

    assert response.status == 200
    assert len(_locks(table)) == 1


def test_removing_a_value_and_deleting_a_record_release_its_locks(api, unique_board, table):
    email, phone = unique_board["f"]["Email"], unique_board["f"]["Phone"]
    first = _create(api, unique_board, {email: "jane@example.com", phone: "+15550100"}).json()
    assert len(_locks(table)) == 2

    api.put(f"/crm/records/{first['recordId']}", {"customFields": {phone: None}})
    assert len(_locks(table)) == 1
    api.delete(f"/crm/records/{first['recordId']}")

    assert _locks(table) == []
    assert _create(api, unique_board, {email: "jane@example.com"}).status == 201


def test_making_a_field_unique_while_duplicates_exist_is_a_409_naming_them(api, board):
    company = board["f"]["text"]
    one = _create(api, board, {company: "Acme"}).json()
    two = _create(api, board, {company: " ACME"}).json()

    response = _make_unique(api, board, "text")

    assert response.status == 409
    message = response.json()["message"]
    assert one["recordId"] in message and two["recordId"] in message and "acme" in message
    assert not any(f["unique"] for f in api.get(f"/kanbans/{board['id']}").json()["fields"])


def test_making_a_field_unique_locks_the_values_records_already_hold(api, board, table):
    company = board["f"]["text"]
    held = _create(api, board, {company: "Acme"}).json()
    _create(api, board, {company: "Initech"})
    _create(api, board, {})

    assert _make_unique(api, board, "text").status == 200

    assert len(_locks(table)) == 2
    refused = _create(api, board, {company: "acme"})
    assert refused.status == 409 and held["recordId"] in refused.json()["message"]
    # The record that holds the value can still be written, keeping it.
    assert api.put(f"/crm/records/{held['recordId']}", {"customFields": {company: "Acme"}}).status == 200


def test_a_field_no_longer_unique_stops_refusing_and_its_locks_go_with_the_next_write(api, unique_board, table):
    email = unique_board["f"]["Email"]
    first = _create(api, unique_board, {email: "jane@example.com"}).json()
    fields = [{**f, "unique": False} for f in api.get(f"/kanbans/{unique_board['id']}").json()["fields"]]
    assert api.put(f"/kanbans/{unique_board['id']}", {"fields": fields}).status == 200

    assert _create(api, unique_board, {email: "jane@example.com"}).status == 201
    api.put(f"/crm/records/{first['recordId']}", {"title": "touched"})
    assert _locks(table) == []


def test_removing_a_unique_field_frees_its_values(api, unique_board, table):
    email = unique_board["f"]["Email"]
    first = _create(api, unique_board, {email: "jane@example.com"}).json()
    kept = [f for f in api.get(f"/kanbans/{unique_board['id']}").json()["fields"] if f["id"] != email]
    assert api.put(f"/kanbans/{unique_board['id']}", {"fields": kept}).status == 200

    api.delete(f"/crm/records/{first['recordId']}")

    assert _locks(table) == []


def test_a_kanban_is_deleted_once_its_records_and_their_locks_are_gone(api, unique_board, table):
    first = _create(api, unique_board, {unique_board["f"]["Email"]: "jane@example.com"}).json()
    assert api.delete(f"/kanbans/{unique_board['id']}").status == 409  # it still has a record

    api.delete(f"/crm/records/{first['recordId']}")

    assert api.delete(f"/kanbans/{unique_board['id']}").status == 200
    assert _locks(table) == []


def test_an_update_that_read_the_kanban_before_a_field_became_unique_keeps_the_locks(api, board, table, monkeypatch):
    from shared.logic import shared_reads

    company = board["f"]["text"]
    held = _create(api, board, {company: "Acme"}).json()
    before = shared_reads.kanban(held["accountId"], board["id"])
    assert _make_unique(api, board, "text").status == 200
    monkeypatch.setattr(shared_reads, "kanban", lambda account_id, kanban_id: before)

    stale = api.put(f"/crm/records/{held['recordId']}", {"title": "Renamed"})

    assert stale.status == 409  # the kanban's unique fields changed since it was read
    assert len(_locks(table)) == 1
    assert api.get(f"/crm/records/{held['recordId']}").json()["title"] == "Lead"
