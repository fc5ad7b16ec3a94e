"""Records through the real handlers: CRUD, defaults, validation, dedupe, merges, lists and pagination."""

import boto3
import pytest

from shared.logic.admin import bootstrap_account
from shared.repository import keys
from tests.integration.conftest import create_member


def table_items(table: str) -> list[dict]:
    """Everything stored but the rate limiter's request counters (every request counts), for asserting
    that rejected requests wrote nothing."""
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return [i for i in items if not i["PK"]["S"].startswith(keys.PARTITION_PREFIXES["rate"])]


def test_create_record_with_defaults_returns_201_and_the_stored_record(api, account):
    response = api.post("/crm/records", {"title": "John Doe - New Lead"})

    assert response.status == 201
    record = response.json()
    assert record["recordId"].startswith("record_")
    assert record["kanbanId"] == account["kanbanId"]
    assert record["status"] == "new"
    assert record["accountId"] == account["accountId"]
    assert record["createdBy"] == record["updatedBy"] == account["userId"]
    assert record["createdAt"] == record["updatedAt"]
    assert record["customFields"] == {} and record["assignedUserIds"] == []
    assert api.get(f"/crm/records/{record['recordId']}").json() == record


def test_record_ids_embed_creation_time(api):
    record = api.post("/crm/records", {"title": "x"}).json()
    assert record["recordId"].split("_")[1] == str(record["createdAt"])


def test_every_field_type_accepts_valid_values_and_stores_them_normalized(api, board):
    f = board["f"]
    values = {
        f["text"]: "  Acme  ",
        f["textarea"]: "line one\nline two",
        f["number"]: 42,
        f["currency"]: 1234.5,
        f["date"]: "2024-02-29",
        f["datetime"]: "2024-01-15T10:30:00+02:00",
        f["select"]: "website",
        f["multiselect"]: ["CRM", "search", "CRM"],
        f["boolean"]: True,
        f["email"]: "Jane@Example.com",
        f["phone"]: "+1234567890",
        f["url"]: "https://example.com/path?q=1",
    }
    response = api.post("/crm/records", {"title": "All types", "customFields": values},
                        query={"kanbanId": board["id"]})

    assert response.status == 201, response.body
    stored = api.get(f"/crm/records/{response.json()['recordId']}").json()["customFields"]
    assert stored[f["text"]] == "Acme"
    assert stored[f["currency"]] == 1234.5 and stored[f["number"]] == 42
    assert stored[f["datetime"]] == "2024-01-15T08:30:00.000Z"
    assert stored[f["select"]] == "Website"
    assert stored[f["multiselect"]] == ["CRM", "Search"]
    assert stored[f["boolean"]] is True
    assert stored[f["email"]] == "Jane@Example.com"


@pytest.mark.parametrize(("field_type", "value", "complaint"), [
    ("number", "12", "must be a number"),
    ("number", True, "must be a number"),
    ("currency", "1e999", "must be a number"),
    ("date", "2024-02-30", "not a valid calendar date"),
    ("date", "15/01/2024", "YYYY-MM-DD"),
    ("datetime", "2024-01-15T10:30:00", "UTC offset"),
    ("select", "Billboard", "must be one of"),
    ("multiselect", "CRM", "list of options"),
    ("boolean", "yes", "true or false"),
    ("email", "not-an-email", "email address"),
    ("phone", "call me", "phone number"),
    ("url", "ftp://example.com", "http or https"),
    ("text", "x" * 1001, "at most 1000"),
    ("text", 5, "must be a string"),
])
def test_invalid_custom_field_values_are_a_400_that_names_the_field(api, board, table, field_type, value, complaint):
    before = table_items(table)
    field_id = board["f"][field_type]

    response = api.post("/crm/records", {"title": "bad", "customFields": {field_id: value}},
                        query={"kanbanId": board["id"]})

    assert response.status == 400
    assert response.json()["error"] == "Bad Request"
    assert field_id in response.json()["message"] and complaint in response.json()["message"]
    assert table_items(table) == before


def test_unknown_field_id_is_a_400(api):
    response = api.post("/crm/records", {"title": "x", "customFields": {"field_nope": "v"}})
    assert response.status == 400
    assert "customFields.field_nope" in response.json()["message"]


def test_phone_accepts_common_formats(api, board):
    for phone in ("+1234567890", "+1 (234) 567-890", "234.567.890", "+44 20 7946 0958"):
        response = api.post("/crm/records", {"title": phone, "customFields": {board["f"]["phone"]: phone}},
                            query={"kanbanId": board["id"]})
        assert response.status == 201, (phone, response.body)


@pytest.mark.parametrize(("body", "message"), [
    ({}, "title is required"),
    ({"title": ""}, "title"),
    ({"title": 5}, "title"),
    ({"title": "x", "colour": "red"}, "colour is not a known field"),
    ({"title": "x", "status": "lost"}, "status 'lost' is not a status"),
    ({"title": "x", "assignedUserIds": ["user_ghost"]}, "user_ghost"),
    ({"title": "x", "customFields": []}, "customFields"),
    ([1, 2], "JSON object"),
])
def test_invalid_bodies_are_400_in_the_documented_format_and_write_nothing(api, table, body, message):
    before = table_items(table)

    response = api.post("/crm/records", body)

    assert response.status == 400
    assert response.json()["error"] == "Bad Request"
    assert message in response.json()["message"]
    assert table_items(table) == before


def test_non_json_body_is_a_400(api):
    for raw in ("not json", "{'title': 'x'}", ""):
        response = api.request("POST", "/crm/records", body=raw, headers={"Content-Type": "text/plain"})
        assert response.status == 400, raw
        assert response.json()["error"] == "Bad Request"


def test_form_content_type_with_a_json_body_is_read_as_json(api):
    response = api.request("POST", "/crm/records", body='{"title": "From curl -d"}',
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 201
    assert response.json()["title"] == "From curl -d"


def test_channel_id_returns_the_existing_record_instead_of_a_duplicate(api):
    first = api.post("/crm/records", {"title": "Chat 1", "channelId": "whatsapp:+155501"})
    second = api.post("/crm/records", {"title": "Chat 1 again", "channelId": "whatsapp:+155501"})

    assert first.status == 201 and second.status == 200
    assert second.json() == first.json()
    listed = api.get("/crm/records").json()["items"]
    assert [r["recordId"] for r in listed] == [first.json()["recordId"]]


def test_a_channel_id_answers_its_record_even_when_the_repeated_body_breaks_a_rule(api):
    first = api.post("/crm/records", {"title": "Chat 1", "channelId": "whatsapp:+155502"})
    again = api.post("/crm/records", {"title": "Chat 1", "channelId": "whatsapp:+155502", "status": "no-such"})
    unknown = api.post("/crm/records", {"title": "Chat 2", "channelId": "whatsapp:+155503", "status": "no-such"})

    assert first.status == 201 and again.status == 200 and again.json() == first.json()
    assert unknown.status == 400


def test_a_channel_id_is_free_again_once_its_record_is_deleted(api):
    first = api.post("/crm/records", {"title": "Chat", "channelId": "c-1"}).json()
    assert api.delete(f"/crm/records/{first['recordId']}").status == 200

    again = api.post("/crm/records", {"title": "Chat", "channelId": "c-1"})

    assert again.status == 201 and again.json()["recordId"] != first["recordId"]


def test_same_channel_id_in_another_kanban_is_another_record(api, board):
    one = api.post("/crm/records", {"title": "a", "channelId": "c-2"})
    two = api.post("/crm/records", {"title": "b", "channelId": "c-2"}, query={"kanbanId": board["id"]})
    assert one.status == two.status == 201


def test_update_merges_custom_fields_and_null_removes_one(api, board):
    f = board["f"]
    record = api.post("/crm/records", {"title": "Lead", "customFields": {f["email"]: "a@b.co", f["text"]: "Acme"}},
                      query={"kanbanId": board["id"]}).json()

    response = api.put(f"/crm/records/{record['recordId']}",
                       {"status": "contacted", "customFields": {f["number"]: 7, f["text"]: None}})

    assert response.status == 200
    updated = response.json()
    assert updated["status"] == "contacted"
    assert updated["customFields"] == {f["email"]: "a@b.co", f["number"]: 7}
    assert updated["updatedAt"] >= record["updatedAt"] and updated["createdAt"] == record["createdAt"]
    assert api.get(f"/crm/records/{record['recordId']}").json() == updated


@pytest.mark.parametrize(("body", "message"), [
    ({}, "no fields to update"),
    ({"title": None}, "title cannot be null"),
    ({"status": "lost"}, "status 'lost'"),
    ({"kanbanId": "kanban_x"}, "kanbanId is not a known field"),
    ({"customFields": {"field_nope": 1}}, "field_nope"),
])
def test_invalid_updates_are_400_and_change_nothing(api, table, body, message):
    record = api.post("/crm/records", {"title": "Keep me"}).json()
    before = table_items(table)

    response = api.put(f"/crm/records/{record['recordId']}", body)

    assert response.status == 400
    assert message in response.json()["message"]
    assert table_items(table) == before


def test_missing_records_are_404(api):
    for method in ("GET", "PUT", "DELETE"):
        response = api.request(method, "/crm/records/record_1_missing", json_body={"title": "x"})
        assert response.status == 404
        assert response.json() == {"error": "Not Found", "message": "record record_1_missing not found"}


def test_delete_removes_the_record(api):
    record = api.post("/crm/records", {"title": "Bye"}).json()

    response = api.delete(f"/crm/records/{record['recordId']}")

    assert response.status == 200 and response.json() == {"message": "CRM record deleted successfully"}
    assert api.get(f"/crm/records/{record['recordId']}").status == 404


def test_assigned_users_must_belong_to_the_account(api, account):
    stranger = bootstrap_account("Other", "Olga", "olga@example.com")
    response = api.post("/crm/records", {"title": "x", "assignedUserIds": [stranger["userId"]]})
    assert response.status == 400 and stranger["userId"] in response.json()["message"]
    ok = api.post("/crm/records", {"title": "x", "assignedUserIds": [account["userId"]]})
    assert ok.status == 201 and ok.json()["assignedUserIds"] == [account["userId"]]


def five_records(api, board, account) -> dict:
    """r0..r4 across two kanbans, two statuses and two assignees (an admin and a member of `board`)."""
    member, _ = create_member(api, [board["id"]])
    made = []
    for i, (kanban, status, users) in enumerate([
        (board["id"], "new", [account["userId"]]),
        (board["id"], "contacted", [member["userId"]]),
        (account["kanbanId"], "new", [account["userId"], member["userId"]]),
        (account["kanbanId"], "contacted", []),
        (board["id"], "new", []),
    ]):
        response = api.post("/crm/records", {"title": f"r{i}", "status": status, "assignedUserIds": users},
                            query={"kanbanId": kanban})
        assert response.status == 201
        made.append(response.json())
    return {"all": made, "member": member}


class TestLists:
    @pytest.fixture
    def records(self, api, board, account):
        return five_records(api, board, account)

    def titles(self, api, **query):
        response = api.get("/crm/records", query=query)
        assert response.status == 200, response.body
        return [r["title"] for r in response.json()["items"]]

    def test_filters_and_their_combinations_newest_first(self, api, board, account, records):
        admin, member = account["userId"], records["member"]["userId"]
        assert self.titles(api) == ["r4", "r3", "r2", "r1", "r0"]
        assert self.titles(api, kanbanId=board["id"]) == ["r4", "r1", "r0"]
        assert self.titles(api, status="new") == ["r4", "r2", "r0"]
        assert self.titles(api, kanbanId=board["id"], status="new") == ["r4", "r0"]
        assert self.titles(api, assignedUserId=admin) == ["r2", "r0"]
        assert self.titles(api, assignedUserId=member) == ["r2", "r1"]
        assert self.titles(api, assignedUserId=member, kanbanId=board["id"]) == ["r1"]
        assert self.titles(api, assignedUserId=member, status="new") == ["r2"]
        assert self.titles(api, assignedUserId=admin, kanbanId=board["id"], status="new") == ["r0"]

    def test_lists_follow_status_and_assignment_changes(self, api, board, account, records):
        r0 = records["all"][0]["recordId"]
        api.put(f"/crm/records/{r0}", {"status": "qualified", "assignedUserIds": []})
        assert self.titles(api, kanbanId=board["id"], status="qualified") == ["r0"]
        assert self.titles(api, kanbanId=board["id"], status="new") == ["r4"]
        assert self.titles(api, assignedUserId=account["userId"]) == ["r2"]

    def test_pagination_visits_every_record_once(self, api, records):
        seen, token, pages = [], None, 0
        while True:
            query = {"limit": 2} | ({"nextToken": token} if token else {})
            page = api.get("/crm/records", query=query).json()
            seen += [r["title"] for r in page["items"]]
            token, pages = page["nextToken"], pages + 1
            if token is None:
                break
        assert seen == ["r4", "r3", "r2", "r1", "r0"] and pages == 3

    def test_tampered_or_foreign_next_tokens_are_400(self, api, emulator, records):
        token = api.get("/crm/records", query={"limit": 2}).json()["nextToken"]
        payload, mac = token.split(".")
        forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac
        assert api.get("/crm/records", query={"nextToken": forged}).status == 400
        assert api.get("/crm/records", query={"nextToken": "garbage"}).status == 400
        # The same token for another query (other filters) is refused too.
        other_query = api.get("/crm/records", query={"nextToken": token, "status": "new"})
        assert other_query.status == 400
        stranger = bootstrap_account("Other", "Olga", "olga@example.com")
        foreign = api.as_token(stranger["token"]).get("/crm/records", query={"nextToken": token})
        assert foreign.status == 400 and "nextToken" in foreign.json()["message"]

    @pytest.mark.parametrize("query", [
        {"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"kanbanid": "x"}, {"status": "Not A Status"},
        {"assignedUserId": "user_ghost"}, "limit=1&limit=2",
    ])
    def test_bad_list_parameters_are_400(self, api, records, query):
        response = api.get("/crm/records", query=query)
        assert response.status == 400
        assert response.json()["error"] == "Bad Request"

    def test_status_not_of_the_kanban_is_400(self, api, board, records):
        response = api.get("/crm/records", query={"kanbanId": board["id"], "status": "won"})
        assert response.status == 400 and "won" in response.json()["message"]

    def test_default_limit_is_20(self, api):
        for i in range(23):
            api.post("/crm/records", {"title": f"bulk {i}"})
        page = api.get("/crm/records").json()
        assert len(page["items"]) == 20 and page["nextToken"]
        rest = api.get("/crm/records", query={"nextToken": page["nextToken"]}).json()
        assert len(rest["items"]) == 3 and rest["nextToken"] is None


@pytest.mark.parametrize("body", [
    '{"title": "a\\ud800b"}',
    '{"title": "ok", "channelId": "\\udfff"}',
])
def test_text_that_is_not_valid_unicode_is_a_400(api, table, body):
    before = table_items(table)
    response = api.request("POST", "/crm/records", body=body)
    assert response.status == 400 and "Unicode" in response.json()["message"]
    assert table_items(table) == before


def test_custom_field_text_that_is_not_valid_unicode_is_a_400(api, board):
    body = '{"title": "ok", "customFields": {"' + board["f"]["text"] + '": "x\\ud800"}}'
    response = api.request("POST", "/crm/records", body=body, query={"kanbanId": board["id"]})
    assert response.status == 400


def test_escaped_but_valid_unicode_is_kept(api):
    response = api.request("POST", "/crm/records", body='{"title": "Caf\\u00e9 \\ud83d\\ude80"}')
    assert response.status == 201 and response.json()["title"] == "Café 🚀"


def test_null_for_a_field_the_record_never_had_and_the_kanban_lacks_is_a_400(api):
    record = api.post("/crm/records", {"title": "x"}).json()
    response = api.put(f"/crm/records/{record['recordId']}", {"customFields": {"field_does_not_exist": None}})
    assert response.status == 400 and "field_does_not_exist" in response.json()["message"]
