"""Conditional requests on records and kanbans: ETags, If-Match on PUT and DELETE (checked by the write
itself) and If-None-Match on GET."""

import boto3
import pytest

from shared.logic import kanbans as kanban_logic
from shared.logic import records as record_logic
from shared.models.api import UpdateKanbanRequest, UpdateRecordRequest
from shared.models.domain import Principal
from shared.repository import kanbans as kanban_repository
from shared.repository import keys
from shared.repository import records as record_repository


@pytest.fixture
def record(api) -> dict:
    response = api.post("/crm/records", {"title": "Original"})
    assert response.status == 201, response.body
    return response.json()


@pytest.fixture
def kanban(api) -> dict:
    response = api.post("/kanbans", {"name": "Pipeline"})
    assert response.status == 201, response.body
    return response.json()


def record_path(record: dict) -> str:
    return f"/crm/records/{record['recordId']}"


def kanban_path(kanban: dict) -> str:
    return f"/kanbans/{kanban['id']}"


def stored_version(table: str, pk: str, sk: str) -> int:
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": sk}})["Item"]
    return int(item["version"]["N"])


# --- ETags ------------------------------------------------------------------------------------------


def test_a_record_carries_a_strong_etag_that_changes_with_every_write(api, record):
    path = record_path(record)
    created = api.get(path).headers["ETag"]
    first = api.put(path, {"title": "First"})
    second = api.put(path, {"title": "Second"})

    assert created == '"1"'
    assert first.status == 200 and first.headers["ETag"] == '"2"'
    assert second.headers["ETag"] == '"3"'
    assert api.get(path).headers["ETag"] == '"3"'


def test_creating_a_record_answers_its_etag_also_for_a_known_channel(api):
    created = api.post("/crm/records", {"title": "Lead", "channelId": "chat-1"})
    again = api.post("/crm/records", {"title": "Lead", "channelId": "chat-1"})

    assert created.status == 201 and created.headers["ETag"] == '"1"'
    assert again.status == 200 and again.headers["ETag"] == '"1"'


def test_a_kanban_carries_a_strong_etag_that_changes_with_every_write(api):
    created = api.post("/kanbans", {"name": "Pipeline"})
    path = kanban_path(created.json())
    updated = api.put(path, {"description": "Deals in flight"})

    assert created.headers["ETag"] == '"1"'
    assert updated.status == 200 and updated.headers["ETag"] == '"2"'
    assert api.get(path).headers["ETag"] == '"2"'


def test_lists_and_errors_carry_no_etag(api, record):
    assert "ETag" not in api.get("/crm/records").headers
    assert "ETag" not in api.get("/crm/records/record_0_missing").headers


# --- If-Match on PUT and DELETE ---------------------------------------------------------------------


def test_a_record_update_with_the_current_etag_is_written(api, record):
    path = record_path(record)
    response = api.put(path, {"title": "Changed"}, headers={"If-Match": '"1"'})

    assert response.status == 200, response.body
    assert response.json()["title"] == "Changed"
    assert response.headers["ETag"] == '"2"'


def test_a_record_update_with_a_stale_etag_is_refused_and_writes_nothing(api, record, table):
    path = record_path(record)
    api.put(path, {"title": "Someone else's"})

    response = api.put(path, {"title": "Mine"}, headers={"If-Match": '"1"'})

    assert response.status == 412
    assert response.json()["error"] == "Precondition Failed"
    assert "version 2" in response.json()["message"]
    after = api.get(path)
    assert after.json()["title"] == "Someone else's" and after.headers["ETag"] == '"2"'
    assert stored_version(table, keys.record_pk(record["accountId"], record["recordId"]), keys.RECORD_SK) == 2


@pytest.mark.parametrize("if_match", ['"7", "1"', ' , "1" ,', '"1",W/"2"'])
def test_a_list_of_etags_matches_when_any_of_them_does(api, record, if_match):
    response = api.put(record_path(record), {"title": "Changed"}, headers={"If-Match": if_match})
    assert response.status == 200, response.body


@pytest.mark.parametrize("if_match", ['W/"1"', '"01"', '"abc"', '"2", "3"'])
def test_a_weak_or_other_etag_never_matches(api, record, if_match):
    response = api.put(record_path(record), {"title": "Changed"}, headers={"If-Match": if_match})

    assert response.status == 412
    assert api.get(record_path(record)).json()["title"] == "Original"


@pytest.mark.parametrize("if_match", ["1", "*, \"1\"", '"1', ""])
def test_a_malformed_if_match_is_a_400_naming_the_header(api, record, if_match):
    response = api.put(record_path(record), {"title": "Changed"}, headers={"If-Match": if_match})

    assert response.status == 400
    assert "if-match" in response.json()["message"].lower()
    assert api.get(record_path(record)).json()["title"] == "Original"


def test_if_match_star_matches_any_existing_version_and_no_missing_one(api, record):
    api.put(record_path(record), {"title": "Version two"})

    assert api.put(record_path(record), {"title": "Three"}, headers={"If-Match": "*"}).status == 200
    missing = api.put("/crm/records/record_0_missing", {"title": "x"}, headers={"If-Match": "*"})
    assert missing.status == 404


def test_a_record_delete_with_a_stale_etag_is_refused_and_the_record_stays(api, record):
    path = record_path(record)
    api.put(path, {"title": "Changed"})

    refused = api.delete(path, headers={"If-Match": '"1"'})

    assert refused.status == 412
    assert api.get(path).status == 200
    assert api.delete(path, headers={"If-Match": '"2"'}).status == 200
    assert api.get(path).status == 404


def test_a_record_delete_with_if_match_star_needs_the_record(api, record):
    assert api.delete(record_path(record), headers={"If-Match": "*"}).status == 200
    assert api.delete(record_path(record), headers={"If-Match": "*"}).status == 404


def test_a_kanban_update_and_delete_check_if_match(api, kanban):
    path = kanban_path(kanban)
    api.put(path, {"description": "Someone else's"})

    refused = api.put(path, {"description": "Mine"}, headers={"If-Match": '"1"'})
    assert refused.status == 412
    assert api.get(path).json()["description"] == "Someone else's"
    assert api.delete(path, headers={"If-Match": '"1"'}).status == 412
    assert api.get(path).status == 200

    assert api.put(path, {"description": "Mine"}, headers={"If-Match": '"2"'}).status == 200
    assert api.delete(path, headers={"If-Match": '"3"'}).status == 200
    assert api.get(path).status == 404


# --- the check is part of the write -----------------------------------------------------------------


@pytest.fixture
def someone_else(account) -> Principal:
    return Principal(account_id=account["accountId"], user_id=account["userId"], role="admin",
                     token_id=account["tokenId"])


@pytest.fixture
def write_between_read_and_write(monkeypatch, someone_else):
    """Makes another writer change a record right after the request under test has read it."""

    def arm(record_id: str) -> None:
        real_get = record_repository.find_stored_record

        def read_then_someone_writes(account_id: str, wanted: str):
            record = real_get(account_id, wanted)
            if wanted == record_id:
                monkeypatch.setattr(record_repository, "find_stored_record", real_get)
                record_logic.update_record(someone_else, record_id, UpdateRecordRequest(title="Theirs"))
            return record

        monkeypatch.setattr(record_repository, "find_stored_record", read_then_someone_writes)

    return arm


def test_a_record_changed_between_read_and_write_fails_if_match_and_is_not_overwritten(
    api, record, table, write_between_read_and_write
):
    write_between_read_and_write(record["recordId"])

    response = api.put(record_path(record), {"title": "Mine"}, headers={"If-Match": '"1"'})

    assert response.status == 412, response.body
    assert "changed or deleted meanwhile" in response.json()["message"]
    after = api.get(record_path(record))
    assert after.json()["title"] == "Theirs" and after.headers["ETag"] == '"2"'
    assert stored_version(table, keys.record_pk(record["accountId"], record["recordId"]), keys.RECORD_SK) == 2


def test_only_the_write_condition_stops_a_write_at_a_version_read_stale(api, record, table, monkeypatch):
    """Every read answers the first version, which If-Match names: only the write's own condition on
    the stored version can tell that the record has moved on."""
    path = record_path(record)
    real_get = record_repository.find_stored_record
    stale = real_get(record["accountId"], record["recordId"])
    api.put(path, {"title": "Theirs"})
    monkeypatch.setattr(record_repository, "find_stored_record", lambda account_id, record_id: stale)

    updated = api.put(path, {"title": "Mine"}, headers={"If-Match": '"1"'})
    deleted = api.delete(path, headers={"If-Match": '"1"'})

    assert updated.status == deleted.status == 412
    monkeypatch.setattr(record_repository, "find_stored_record", real_get)
    assert api.get(path).json()["title"] == "Theirs"
    assert stored_version(table, keys.record_pk(record["accountId"], record["recordId"]), keys.RECORD_SK) == 2


def test_a_record_changed_between_read_and_delete_fails_if_match_and_stays(api, record, write_between_read_and_write):
    write_between_read_and_write(record["recordId"])

    assert api.delete(record_path(record), headers={"If-Match": '"1"'}).status == 412
    assert api.get(record_path(record)).json()["title"] == "Theirs"


def test_without_a_named_version_a_lost_race_is_retried_on_the_new_version(api, record, write_between_read_and_write):
    write_between_read_and_write(record["recordId"])

    response = api.put(record_path(record), {"customFields": {}}, headers={"If-Match": "*"})

    assert response.status == 200, response.body
    assert response.json()["title"] == "Theirs" and response.headers["ETag"] == '"3"'


def test_a_kanban_changed_between_read_and_write_fails_if_match_and_is_not_overwritten(
    api, account, kanban, table, monkeypatch, someone_else
):
    real_find = kanban_repository.find_kanban

    def read_then_someone_writes(account_id: str, kanban_id: str):
        found = real_find(account_id, kanban_id)
        if found is not None and kanban_id == kanban["id"]:
            monkeypatch.setattr(kanban_repository, "find_kanban", real_find)
            kanban_logic.update_kanban(someone_else, kanban_id, UpdateKanbanRequest(description="Theirs"))
        return found

    monkeypatch.setattr(kanban_repository, "find_kanban", read_then_someone_writes)

    response = api.put(kanban_path(kanban), {"description": "Mine"}, headers={"If-Match": '"1"'})

    assert response.status == 412, response.body
    assert api.get(kanban_path(kanban)).json()["description"] == "Theirs"
    assert stored_version(table, keys.account_pk(account["accountId"]), keys.kanban_sk(kanban["id"])) == 2


# --- If-None-Match on GET ---------------------------------------------------------------------------


@pytest.mark.parametrize("if_none_match", ['"1"', 'W/"1"', '"9", "1"', "*"])
def test_a_get_with_the_current_etag_is_a_304_without_a_body(api, record, if_none_match):
    response = api.get(record_path(record), headers={"If-None-Match": if_none_match})

    assert response.status == 304
    assert response.body == b""
    assert response.headers["ETag"] == '"1"'
    assert "Content-Type" not in response.headers


def test_a_get_with_a_stale_etag_answers_the_item(api, record, kanban):
    api.put(record_path(record), {"title": "Changed"})

    response = api.get(record_path(record), headers={"If-None-Match": '"1"'})

    assert response.status == 200
    assert response.json()["title"] == "Changed" and response.headers["ETag"] == '"2"'
    assert api.get(kanban_path(kanban), headers={"If-None-Match": '"1"'}).status == 304
    assert api.get(kanban_path(kanban), headers={"If-None-Match": '"2"'}).status == 200


def test_the_previous_default_kanbans_etag_changes_when_another_becomes_the_default(api):
    default = next(k for k in api.get("/kanbans").json()["items"] if k["isDefault"])
    before = api.get(kanban_path(default))

    api.post("/kanbans", {"name": "New default", "isDefault": True})
    after = api.get(kanban_path(default), headers={"If-None-Match": before.headers["ETag"]})

    assert after.status == 200 and after.json()["isDefault"] is False
    assert after.headers["ETag"] != before.headers["ETag"]
    refused = api.put(kanban_path(default), {"name": "Renamed"}, headers={"If-Match": before.headers["ETag"]})
    assert refused.status == 412
