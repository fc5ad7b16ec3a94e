"""Idempotency-Key on writes, through the real handlers: a replay answers as the first request did and
writes nothing; another request with the key is a 422, a retry while the first runs a 409; keys are
checked, kept per account, counted by the rate limiter, and a 5xx is never kept."""

import secrets
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace

import boto3
import pytest

import functions.records.handler as records_handler
from shared.errors import ServiceUnavailable
from shared.logic import rate_limits
from shared.logic.admin import bootstrap_account
from tests.integration.conftest import create_member

KEY = {"Idempotency-Key": "order-4711"}


def stored_items(table: str) -> list[dict]:
    """Every item of the table but the rate limiter's counters (which every request, a replay too, moves)."""
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    kept = [item for item in items if not item["PK"]["S"].startswith("RATE#")]
    return sorted(kept, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))


def without_rate_limit(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if not k.startswith("X-RateLimit-")}


@pytest.fixture
def mid_minute(monkeypatch):
    """Requests that compare counts must fall in one minute window, whenever the test runs."""
    now = time.time() // 60 * 60 + 30
    monkeypatch.setattr(rate_limits, "time", SimpleNamespace(time=lambda: now))


def test_a_replay_answers_as_the_first_request_did_and_writes_nothing(api, table):
    first = api.post("/crm/records", {"title": "Once"}, headers=KEY)
    assert first.status == 201, first.body
    assert "Idempotent-Replayed" not in first.headers
    stored = stored_items(table)

    replay = api.post("/crm/records", {"title": "Once"}, headers={"idempotency-key": KEY["Idempotency-Key"]})

    assert replay.status == 201
    assert replay.body == first.body
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert without_rate_limit(replay.headers) == {**without_rate_limit(first.headers), "Idempotent-Replayed": "true"}
    assert "X-RateLimit-Remaining" in replay.headers
    assert stored_items(table) == stored
    assert [r["title"] for r in api.get("/crm/records").json()["items"]] == ["Once"]


def test_the_same_json_body_in_another_key_order_or_spacing_is_the_same_request(api):
    first = api.post("/crm/records", {"title": "Once", "assignedUserIds": []}, headers=KEY)
    replay = api.request("POST", "/crm/records", body='{ "assignedUserIds": [],  "title": "Once" }', headers=KEY)

    assert first.status == replay.status == 201
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.body == first.body


def test_put_and_delete_are_replayed_too(api):
    record = api.post("/crm/records", {"title": "Before"}).json()
    path = f"/crm/records/{record['recordId']}"

    updated = api.put(path, {"title": "After"}, headers=KEY)
    assert api.put(path, {"title": "After"}, headers=KEY).body == updated.body
    api.put(path, {"title": "Changed since"})
    assert api.put(path, {"title": "After"}, headers=KEY).json()["title"] == "After"  # the kept answer
    assert api.get(path).json()["title"] == "Changed since"  # ... and nothing written

    deleted = api.delete(path, headers={"Idempotency-Key": "delete-1"})
    again = api.delete(path, headers={"Idempotency-Key": "delete-1"})
    assert deleted.status == again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert api.delete(path).status == 404  # without the key, the second delete finds nothing


@pytest.mark.parametrize("other", [
    {"method": "POST", "path": "/crm/records", "body": {"title": "Another title"}},
    {"method": "POST", "path": "/crm/records", "body": {"title": "Once"}, "query": {"kanbanId": "kanban_other"}},
    {"method": "POST", "path": "/kanbans", "body": {"title": "Once"}},
    {"method": "PUT", "path": "/crm/records/record_1", "body": {"title": "Once"}},
    {"method": "DELETE", "path": "/crm/records/record_1", "body": None},
], ids=["body", "query", "path", "method", "method and path"])
def test_the_same_key_for_another_request_is_a_422_that_writes_nothing(api, table, other):
    assert api.post("/crm/records", {"title": "Once"}, headers=KEY).status == 201
    stored = stored_items(table)

    response = api.request(other["method"], other["path"], json_body=other["body"], query=other.get("query"),
                           headers=KEY)

    assert response.status == 422
    assert response.json()["error"] == "Unprocessable Entity"
    assert "Idempotency-Key" in response.json()["message"]
    assert stored_items(table) == stored


def test_a_retry_while_the_first_request_runs_is_a_409_that_writes_nothing(api, table, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    create_record = records_handler.records.create_record

    def held(*args, **kwargs):
        entered.set()
        release.wait(5)
        return create_record(*args, **kwargs)

    monkeypatch.setattr(records_handler.records, "create_record", held)
    answers = {}
    first = threading.Thread(target=lambda: answers.update(first=api.post("/crm/records", {"title": "Once"},
                                                                          headers=KEY)))
    first.start()
    try:
        assert entered.wait(5)
        stored = stored_items(table)

        retry = api.post("/crm/records", {"title": "Once"}, headers=KEY)

        assert retry.status == 409, retry.body
        assert retry.json()["error"] == "Conflict" and "in progress" in retry.json()["message"]
        assert stored_items(table) == stored
    finally:
        release.set()
        first.join()
    assert answers["first"].status == 201
    replay = api.post("/crm/records", {"title": "Once"}, headers=KEY)
    assert replay.body == answers["first"].body and replay.headers["Idempotent-Replayed"] == "true"
    assert len(api.get("/crm/records").json()["items"]) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "new\nline", "caf\u00e9", "\x7f", " padded "],
                         ids=["empty", "256 characters", "tab", "newline", "non-ASCII", "DEL", "spaces at the ends"])
def test_a_malformed_key_is_a_400_that_writes_nothing(api, table, key):
    stored = stored_items(table)

    response = api.post("/crm/records", {"title": "Never"}, headers={"Idempotency-Key": key})

    assert response.status == 400
    assert response.json() == {"error": "Bad Request", "message": (
        "the Idempotency-Key header must be 1 to 255 printable ASCII characters, not starting or ending with a space")}
    assert stored_items(table) == stored


def test_keys_of_255_printable_characters_and_spaces_are_accepted(api):
    for key in ("x" * 255, "a key with spaces ~!@#$%^&*()", "1"):
        assert api.post("/crm/records", {"title": key}, headers={"Idempotency-Key": key}).status == 201


def test_a_key_on_a_read_is_ignored(api):
    assert api.get("/crm/records", headers={"Idempotency-Key": ""}).status == 200


def test_keys_are_kept_per_account(api, table):
    other = api.as_token(bootstrap_account("Other Inc", "Olga", "olga@example.com")["token"])

    mine = api.post("/crm/records", {"title": "Once"}, headers=KEY)
    theirs = other.post("/crm/records", {"title": "Once"}, headers=KEY)
    theirs_changed = other.post("/crm/records", {"title": "Changed"}, headers=KEY)

    assert mine.status == theirs.status == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["recordId"] != mine.json()["recordId"]
    assert theirs_changed.status == 422
    assert len(api.get("/crm/records").json()["items"]) == len(other.get("/crm/records").json()["items"]) == 1


def test_replays_count_against_the_rate_limits(api, account, mid_minute):
    rate_limits.set_limits(account["accountId"], per_minute=3, per_hour=None)
    first = api.post("/crm/records", {"title": "Once"}, headers=KEY)
    replay = api.post("/crm/records", {"title": "Once"}, headers=KEY)
    assert api.post("/crm/records", {"title": "Once"}, headers=KEY).status == 201

    refused = api.post("/crm/records", {"title": "Once"}, headers=KEY)

    assert [first.headers["X-RateLimit-Remaining"], replay.headers["X-RateLimit-Remaining"]] == ["2", "1"]
    assert refused.status == 403 and "Idempotent-Replayed" not in refused.headers
    rate_limits.reset_limits(account["accountId"])


def test_a_4xx_is_kept_and_replayed(api):
    refused = api.post("/crm/records", {"title": "Once"}, query={"kanbanId": "kanban_unknown"}, headers=KEY)
    replay = api.post("/crm/records", {"title": "Once"}, query={"kanbanId": "kanban_unknown"}, headers=KEY)

    assert refused.status == replay.status == 404
    assert replay.body == refused.body and replay.headers["Idempotent-Replayed"] == "true"


def test_a_5xx_is_not_kept_so_the_retry_runs(api, monkeypatch):
    create_record = records_handler.records.create_record
    failures = [ServiceUnavailable("the database is not answering in time; retry shortly")]

    def failing_once(*args, **kwargs):
        if failures:
            raise failures.pop()
        return create_record(*args, **kwargs)

    monkeypatch.setattr(records_handler.records, "create_record", failing_once)

    failed = api.post("/crm/records", {"title": "Once"}, headers=KEY)
    retried = api.post("/crm/records", {"title": "Once"}, headers=KEY)

    assert failed.status == 503
    assert retried.status == 201 and "Idempotent-Replayed" not in retried.headers
    assert [r["title"] for r in api.get("/crm/records").json()["items"]] == ["Once"]


def test_keys_are_kept_per_user_so_another_user_never_gets_a_kept_answer(api, board):
    _, member_token = create_member(api, [board["id"]])
    member = api.as_token(member_token)
    admin_id = api.get("/users").json()["items"][0]["userId"]

    minted = api.post("/tokens", {"userId": admin_id, "name": "ops"}, headers=KEY)
    same_key_and_body = member.post("/tokens", {"userId": admin_id, "name": "ops"}, headers=KEY)

    assert minted.status == 201 and "token" in minted.json()
    assert same_key_and_body.status == 403
    assert "Idempotent-Replayed" not in same_key_and_body.headers
    assert minted.json()["token"] not in same_key_and_body.body.decode()


@pytest.fixture
def notes_board(api) -> tuple[str, str]:
    """A kanban with a textarea field: (kanban id, field id)."""
    kanban = api.post("/kanbans", {"name": "Notes", "fields": [{"name": "Notes", "type": "textarea"}]}).json()
    return kanban["id"], kanban["fields"][0]["id"]


def noted_batch(kanban_id: str, field_id: str, note: Callable[[int], str]) -> dict:
    return {"operations": [{"action": "create", "kanbanId": kanban_id,
                            "record": {"title": f"lead {i}", "customFields": {field_id: note(i)}}} for i in range(100)]}


def test_an_answer_larger_than_an_item_is_kept_compressed_and_replayed(api, notes_board):
    body = noted_batch(*notes_board, lambda i: f"Called on day {i}; wants a quote. " * 150)

    first = api.post("/crm/records/batch", body, headers=KEY)
    replay = api.post("/crm/records/batch", body, headers=KEY)

    assert first.status == replay.status == 200
    assert len(first.body) > 400_000  # more than one DynamoDB item holds
    assert replay.body == first.body and replay.headers["Idempotent-Replayed"] == "true"
    listed = api.get("/crm/records", query={"kanbanId": notes_board[0], "limit": 100}).json()
    assert len(listed["items"]) == 100 and listed["nextToken"] is None


def test_an_answer_too_large_to_keep_is_replayed_as_a_409_and_never_run_again(api, notes_board):
    body = noted_batch(*notes_board, lambda i: secrets.token_urlsafe(3_750))

    first = api.post("/crm/records/batch", body, headers=KEY)
    replay = api.post("/crm/records/batch", body, headers=KEY)

    assert first.status == 200 and [r["status"] for r in first.json()["results"]] == [201] * 100
    assert replay.status == 409 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["message"].startswith(
        "the request with this Idempotency-Key ran and was answered 200, but its answer (")
    assert "too large to keep for a replay; it was not run again" in replay.json()["message"]
    listed = api.get("/crm/records", query={"kanbanId": notes_board[0], "limit": 100}).json()
    assert len(listed["items"]) == 100 and listed["nextToken"] is None
