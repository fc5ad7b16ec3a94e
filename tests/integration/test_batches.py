"""POST /crm/records/batch through the real handlers: results in order, every single-record rule per
operation, whole-request refusals that write nothing, and one rate-limit unit per batch."""

import itertools
import time
from types import SimpleNamespace

import pytest

from shared import request_budget
from shared.errors import ServiceUnavailable
from shared.logic import batches, rate_limits
from shared.repository import dynamo
from tests.integration.conftest import create_member
from tests.integration.test_records import table_items

BATCH = "/crm/records/batch"


def batch(api, *operations, **kwargs):
    return api.post(BATCH, {"operations": list(operations)}, **kwargs)


def create(title: str, **fields):
    return {"action": "create", "record": {"title": title, **fields}}


def test_a_mixed_batch_answers_one_result_per_operation_in_order(api, account):
    kept = api.post("/crm/records", {"title": "kept"}).json()
    doomed = api.post("/crm/records", {"title": "doomed"}).json()

    response = batch(
        api,
        create("new one", status="contacted"),
        {"action": "update", "recordId": kept["recordId"], "record": {"title": "kept, renamed"}, "ifMatch": '"1"'},
        {"action": "delete", "recordId": doomed["recordId"]},
        {"action": "update", "recordId": "record_missing", "record": {"title": "x"}},
        {"action": "upsert", "record": {"title": "upserted", "channelId": "wa-1"}},
    )

    assert response.status == 200, response.body
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 200, 200, 404, 201]
    assert results[0]["record"]["title"] == "new one" and results[0]["record"]["status"] == "contacted"
    assert results[0]["record"]["kanbanId"] == account["kanbanId"]
    assert results[1]["record"]["title"] == "kept, renamed"
    assert results[2]["record"]["recordId"] == doomed["recordId"]  # a delete answers the record it deleted
    assert results[3] == {"status": 404, "error": "Not Found", "message": "record record_missing not found"}
    assert api.get(f"/crm/records/{doomed['recordId']}").status == 404
    for result in (results[0], results[1], results[4]):
        assert api.get(f"/crm/records/{result['record']['recordId']}").json() == result["record"]
    assert api.get(f"/crm/records/{kept['recordId']}").headers["ETag"] == '"2"'


def test_an_invalid_record_fails_its_own_operation_only(api, board):
    response = batch(
        api,
        create("good"),
        create("   "),
        {"action": "create", "kanbanId": board["id"], "record": {"title": "bad email",
                                                                  "customFields": {board["f"]["email"]: "nope"}}},
        {"action": "create", "record": {"title": "x", "colour": "red"}},
        {"action": "update", "recordId": "record_1", "record": {}},
        create("bad status", status="lost"),
        create("also good"),
    )

    assert response.status == 200, response.body
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 400, 400, 400, 400, 400, 201]
    assert results[1]["error"] == "Bad Request" and results[1]["message"].startswith("operations.1.record.title")
    assert board["f"]["email"] in results[2]["message"]
    assert results[3]["message"] == "operations.3.record.colour is not a known field"
    assert results[4]["message"] == "operations.4.record: the body has no fields to update"
    assert "status 'lost' is not a status of kanban" in results[5]["message"]
    titles = sorted(r["title"] for r in api.get("/crm/records").json()["items"])
    assert titles == ["also good", "good"]


@pytest.mark.parametrize("body, message", [
    ({"operations": []}, "operations: List should have at least 1 item"),
    ({"operations": [create("x")] * 101}, "operations: List should have at most 100 items"),
    ({"operations": [create("x"), {"action": "archive", "recordId": "r"}]}, "operations.1: Input tag 'archive'"),
    ({"operations": [create("x"), {"record": {"title": "x"}}]}, "operations.1: Unable to extract tag"),
    ({"operations": [create("x"), {"action": "delete"}]}, "operations.1.delete.recordId is required"),
    ({"operations": [create("x"), {"action": "create", "record": "x"}]}, "operations.1.create.record:"),
    ({"operations": [create("x")], "atomic": True}, "atomic is not a known field"),
    ({}, "operations is required"),
])
def test_a_malformed_envelope_is_a_400_for_the_whole_request_and_writes_nothing(api, table, body, message):
    before = table_items(table)

    response = api.post(BATCH, body)

    assert response.status == 400, response.body
    assert response.json()["error"] == "Bad Request"
    assert response.json()["message"].startswith(message), response.json()["message"]
    assert table_items(table) == before


def test_a_hundred_creates_are_written_in_two_transactions(api, monkeypatch):
    real_transact, transactions = dynamo.transact, []
    monkeypatch.setattr(dynamo, "transact", lambda writes: transactions.append(len(writes)) or real_transact(writes))

    response = batch(api, *[create(f"lead {i}", status="contacted" if i % 2 else "new") for i in range(100)])

    assert response.status == 200
    assert [r["status"] for r in response.json()["results"]] == [201] * 100
    # 100 records, and per transaction the kanban's check and its counters: 98 + 2, then 2 + 2.
    assert transactions == [100, 4]
    assert len(api.get("/crm/records", query={"limit": 100}).json()["items"]) == 100
    counts = api.get("/crm/search/aggregations").json()["status"]
    assert {c["key"]: c["count"] for c in counts if c["count"]} == {"new": 50, "contacted": 50}


def test_creates_refused_together_are_written_one_by_one(api, unique_board):
    email, kanban = unique_board["f"]["Email"], unique_board["id"]
    holder = api.post("/crm/records", {"title": "Jane", "customFields": {email: "jane@example.com"}},
                      query={"kanbanId": kanban}).json()

    def op(title, value):
        return {"action": "create", "kanbanId": kanban, "record": {"title": title, "customFields": {email: value}}}

    results = batch(api, op("Ann", "ann@example.com"), op("Copy", "JANE@example.com"), op("Bob", "bob@example.com"),
                    op("Ann again", "ann@example.com")).json()["results"]

    assert [r["status"] for r in results] == [201, 409, 201, 409]
    assert f"record {holder['recordId']} already holds the value 'jane@example.com'" in results[1]["message"]
    assert f"record {results[0]['record']['recordId']} already holds" in results[3]["message"]
    stored = api.get("/crm/records", query={"kanbanId": kanban}).json()["items"]
    assert sorted(r["title"] for r in stored) == ["Ann", "Bob", "Jane"]
    counts = api.get("/crm/search/aggregations", query={"kanbanId": kanban}).json()["status"]
    assert sum(c["count"] for c in counts) == 3


def test_if_match_is_checked_per_operation(api):
    record = api.post("/crm/records", {"title": "v1"}).json()
    rid = record["recordId"]

    results = batch(
        api,
        {"action": "update", "recordId": rid, "record": {"title": "stale"}, "ifMatch": '"7"'},
        {"action": "delete", "recordId": rid, "ifMatch": 'W/"1"'},
        {"action": "update", "recordId": rid, "record": {"title": "v2"}, "ifMatch": '"1"'},
        {"action": "update", "recordId": rid, "record": {"title": "v3"}, "ifMatch": "*"},
    ).json()["results"]

    assert [r["status"] for r in results] == [412, 412, 200, 200]
    assert results[0]["error"] == "Precondition Failed" and "nothing was written" in results[0]["message"]
    assert api.get(f"/crm/records/{rid}").json()["title"] == "v3"
    assert batch(api, {"action": "update", "recordId": rid, "record": {"title": "x"},
                       "ifMatch": "3"}).status == 400  # not an entity tag: the envelope is malformed


def test_members_reach_only_their_kanbans(api, board, account):
    _, token = create_member(api, [board["id"]])
    member = api.as_token(token)
    theirs = api.post("/crm/records", {"title": "default board"}).json()

    results = batch(
        member,
        {"action": "create", "kanbanId": board["id"], "record": {"title": "allowed"}},
        {"action": "create", "kanbanId": account["kanbanId"], "record": {"title": "refused"}},
        {"action": "update", "recordId": theirs["recordId"], "record": {"title": "refused"}},
        {"action": "delete", "recordId": theirs["recordId"]},
        {"action": "create", "kanbanId": "kanban_elsewhere", "record": {"title": "unknown"}},
    ).json()["results"]

    assert [r["status"] for r in results] == [201, 403, 403, 403, 404]
    assert results[1]["error"] == "Forbidden"
    assert api.get(f"/crm/records/{theirs['recordId']}").json()["title"] == "default board"


def test_channel_ids_dedupe_within_a_batch_and_against_stored_records(api):
    stored = api.post("/crm/records", {"title": "first", "channelId": "wa-9"}).json()

    results = batch(
        api,
        create("again", channelId="wa-9"),
        create("new", channelId="wa-10"),
        create("same again", channelId="wa-10"),
        {"action": "upsert", "record": {"title": "upserted", "channelId": "wa-9", "status": "qualified"}},
    ).json()["results"]

    assert [r["status"] for r in results] == [200, 201, 200, 200]
    assert results[0]["record"] == stored
    assert results[2]["record"]["recordId"] == results[1]["record"]["recordId"]
    assert results[3]["record"]["recordId"] == stored["recordId"]
    assert results[3]["record"]["title"] == "upserted" and results[3]["record"]["status"] == "qualified"
    assert len(api.get("/crm/records").json()["items"]) == 2


def test_unique_values_and_upserts_follow_the_single_record_rules(api, unique_board):
    email = unique_board["f"]["Email"]
    kanban = unique_board["id"]

    def op(action, title, value):
        return {"action": action, "kanbanId": kanban, "record": {"title": title, "customFields": {email: value}}}

    results = batch(api, op("create", "Jane", "jane@example.com"), op("create", "Copy", "JANE@example.com"),
                    op("upsert", "Jane S.", "jane@example.com"), op("upsert", "Ann", "ann@example.com")).json()
    statuses = [r["status"] for r in results["results"]]

    assert statuses == [201, 409, 200, 201]
    assert results["results"][1]["error"] == "Conflict"
    assert results["results"][2]["record"]["recordId"] == results["results"][0]["record"]["recordId"]
    assert sorted(r["title"] for r in api.get("/crm/records", query={"kanbanId": kanban}).json()["items"]) == [
        "Ann", "Jane S."]


def test_counts_and_field_value_lookups_see_what_a_batch_wrote(api, board, search_settings, stream):
    f, kanban = board["f"], board["id"]
    first = api.post("/crm/records", {"title": "a"}, query={"kanbanId": kanban}).json()

    batch(
        api,
        {"action": "create", "kanbanId": kanban, "record": {"title": "b", "customFields": {f["email"]: "B@x.io"}}},
        {"action": "create", "kanbanId": kanban, "record": {"title": "c", "status": "closed",
                                                            "customFields": {f["email"]: "b@x.io"}}},
        {"action": "update", "recordId": first["recordId"], "record": {"status": "contacted"}},
        {"action": "create", "kanbanId": kanban, "record": {"title": "d"}},
        {"action": "delete", "recordId": "record_missing"},
    )
    stream.drain()

    counts = api.get("/crm/search/aggregations", query={"kanbanId": kanban}).json()["status"]
    assert {c["key"]: c["count"] for c in counts} == {"new": 2, "contacted": 1, "qualified": 0, "closed": 1}
    found = api.get("/crm/search", query={"customFieldId": f["email"], "customFieldValue": "b@X.io"}).json()
    assert sorted(r["title"] for r in found["items"]) == ["b", "c"]
    searched = api.get("/crm/search", query={"q": "d", "kanbanId": kanban}).json()
    assert "d" in [r["title"] for r in searched["items"]]


def test_a_batch_counts_one_request_against_the_rate_limits(api, account, monkeypatch):
    now = time.time() // 60 * 60 + 30
    monkeypatch.setattr(rate_limits, "time", SimpleNamespace(time=lambda: now))
    before = int(api.get("/kanbans").headers["X-RateLimit-Remaining"])

    response = batch(api, *[create(f"r{i}") for i in range(50)])

    assert int(response.headers["X-RateLimit-Remaining"]) == before - 1
    rate_limits.set_limits(account["accountId"], per_minute=2, per_hour=None)
    refused = batch(api, create("over the limit"))
    assert refused.status == 403 and refused.json()["message"].startswith("Rate limit exceeded")


def failing_transaction(monkeypatch, failing_call: int) -> None:
    real_transact, calls = dynamo.transact, []

    def transact(writes):
        calls.append(writes)
        if len(calls) == failing_call:
            raise ServiceUnavailable("the database did not answer in time")
        return real_transact(writes)

    monkeypatch.setattr(dynamo, "transact", transact)


def test_a_failure_of_the_database_stops_the_batch_and_says_what_was_not_run(api, monkeypatch):
    stored = api.post("/crm/records", {"title": "stored"}).json()
    failing_transaction(monkeypatch, failing_call=2)

    results = batch(api, create("one"), {"action": "update", "recordId": stored["recordId"], "record": {"title": "x"}},
                    create("three")).json()["results"]

    assert [r["status"] for r in results] == [201, 503, 503]
    assert "operation 1 may or may not have been written" in results[1]["message"]
    assert "request id" in results[1]["message"]
    assert results[2]["message"].startswith("not run, as operation 1 failed; nothing was written")
    assert sorted(r["title"] for r in api.get("/crm/records").json()["items"]) == ["one", "stored"]


def test_a_failure_of_creates_written_together_names_them_all(api, monkeypatch):
    failing_transaction(monkeypatch, failing_call=1)

    results = batch(api, create("one"), create("two"), create("three"),
                    {"action": "delete", "recordId": "record_missing"}).json()["results"]

    assert [r["status"] for r in results] == [503, 503, 503, 503]
    for result in results[:3]:
        assert "operations 0 to 2 were written together, and may or may not have been" in result["message"]
    assert results[3]["message"].startswith("not run, as operation 2 failed; nothing was written")
    assert api.get("/crm/records").json()["items"] == []


def test_other_methods_on_the_batch_path_are_405(api):
    response = api.get(BATCH)

    assert response.status == 405
    assert response.headers["Allow"] == "POST"


def test_writes_start_only_while_the_request_has_time_left(api, monkeypatch):
    stored = api.post("/crm/records", {"title": "stored"}).json()
    steps = itertools.count()
    time_left = request_budget.time_left
    # Five steps have time: create one (checked, then written alone), the update, the checks of the
    # last two creates; writing those two together has not.
    monkeypatch.setattr(request_budget, "time_left", lambda seconds: time_left(seconds) and (
        seconds != batches.OPERATION_SECONDS or next(steps) < 5))

    results = batch(api, create("one"), {"action": "update", "recordId": stored["recordId"], "record": {"title": "x"}},
                    create("three"), create("four")).json()["results"]

    assert [r["status"] for r in results] == [201, 200, 503, 503]
    assert results[2]["error"] == "Service Unavailable" and results[2]["message"].startswith(
        "not run: the request ran out of time after 2 operations; nothing was written for this operation")
    assert sorted(r["title"] for r in api.get("/crm/records").json()["items"]) == ["one", "x"]
