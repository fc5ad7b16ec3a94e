"""The contract as clients meet it: answers can be sent back, one JSON form, clear messages for common
mistakes, and the documentation served without a token."""

import json

import pytest

from shared.logic import rate_limits
from shared.routes import ROUTES


def test_a_kanban_read_with_get_can_be_put_back_unchanged(api, board):
    read = api.get(f"/kanbans/{board['id']}").json()

    written = api.put(f"/kanbans/{board['id']}", read)

    assert written.status == 200, written.body
    unchanged = {k: v for k, v in written.json().items() if k != "updatedAt"}
    assert unchanged == {k: v for k, v in read.items() if k != "updatedAt"}


def test_a_kanban_from_a_list_can_be_put_back_with_a_change(api, board):
    listed = next(k for k in api.get("/kanbans").json()["items"] if k["id"] == board["id"])
    listed["fields"] = list(reversed(listed["fields"]))  # reorder, keeping each field's stored order
    listed["name"] = "Renamed deals"

    written = api.put(f"/kanbans/{board['id']}", listed)

    assert written.status == 200, written.body
    assert written.json()["name"] == "Renamed deals"
    assert [f["id"] for f in written.json()["fields"]] == [f["id"] for f in listed["fields"]]
    assert [f["order"] for f in written.json()["fields"]] == list(range(len(listed["fields"])))


@pytest.mark.parametrize("change, named", [
    ({"id": "kanban_other"}, "id"),
    ({"slug": "another-slug"}, "slug"),
    ({"createdAt": 1}, "createdAt"),
    ({"updatedAt": 1}, "updatedAt"),
])
def test_a_changed_read_only_kanban_value_is_a_400_that_names_it(api, board, change, named):
    read = api.get(f"/kanbans/{board['id']}").json()

    refused = api.put(f"/kanbans/{board['id']}", {**read, **change})

    assert refused.status == 400
    assert refused.json()["message"].startswith(f"{named}: read-only")
    assert api.get(f"/kanbans/{board['id']}").json() == read


@pytest.mark.parametrize("change, named", [
    ({"order": 7}, "fields.0.order"),
    ({"isSystem": True}, "fields.0.isSystem"),
])
def test_a_changed_read_only_field_value_is_a_400_that_names_it(api, board, change, named):
    read = api.get(f"/kanbans/{board['id']}").json()
    fields = [{**read["fields"][0], **change}, *read["fields"][1:]]

    refused = api.put(f"/kanbans/{board['id']}", {"fields": fields})

    assert refused.status == 400
    assert refused.json()["message"].startswith(f"{named}: read-only")


def test_a_user_read_with_get_can_be_put_back_unchanged_and_with_a_change(api):
    user = api.post("/users", {"name": "Una", "email": "una@example.com"}).json()
    read = api.get(f"/users/{user['userId']}").json()

    unchanged = api.put(f"/users/{user['userId']}", read)
    renamed = api.put(f"/users/{user['userId']}", {**unchanged.json(), "name": "Una B"})
    stale = api.put(f"/users/{user['userId']}", {**read, "name": "Una C"})

    assert unchanged.status == 200, unchanged.body
    assert renamed.status == 200, renamed.body
    assert renamed.json()["name"] == "Una B"
    assert stale.status == 400 and stale.json()["message"].startswith("updatedAt: read-only")


@pytest.mark.parametrize("change", [{"userId": "user_other"}, {"accountId": "account_other"}, {"createdAt": 5}])
def test_a_changed_read_only_user_value_is_a_400_that_names_it(api, change):
    user = api.post("/users", {"name": "Una", "email": "una@example.com"}).json()
    (named,) = change

    refused = api.put(f"/users/{user['userId']}", {**user, **change, "name": "Changed"})

    assert refused.status == 400
    assert refused.json()["message"].startswith(f"{named}: read-only")
    assert api.get(f"/users/{user['userId']}").json()["name"] == "Una"


def test_every_answer_has_the_same_compact_json_form(api):
    bodies = [
        api.get("/kanbans").body,
        api.post("/crm/records", {"title": "Ünïcode – ok"}).body,
        api.post("/crm/records", {}).body,
        api.get("/crm/records/record_missing").body,
        api.as_token(None).get("/kanbans").body,
        api.request("PATCH", "/kanbans").body,
    ]
    for body in bodies:
        text = body.decode("utf-8")
        assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    assert "Ünïcode – ok" in bodies[1].decode("utf-8")


def test_a_repeated_query_parameter_is_named_as_repeated(api):
    refused = api.get("/crm/records", query="limit=5&limit=6")
    assert refused.status == 400
    assert refused.json()["message"].startswith("query parameter limit is repeated")


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwYXNz", "crm_abc.def", "Token abc"])
def test_a_missing_or_foreign_authorization_scheme_says_to_use_bearer(api, authorization):
    caller = api.as_token(None)
    refused = caller.request("GET", "/kanbans", headers={"Authorization": authorization} if authorization else None)
    assert refused.status == 401
    assert "Authorization: Bearer <token>" in refused.json()["message"]


def test_invalid_json_names_the_reason_and_position(api):
    refused = api.request("POST", "/crm/records", body='{"title": "a",\n "status": }')
    assert refused.status == 400
    assert refused.json()["message"] == "the request body is not valid JSON: Expecting value (line 2, column 12)"


def test_the_document_and_the_docs_page_need_no_token_and_are_not_counted(api, account):
    rate_limits.set_limits(account["accountId"], per_minute=1, per_hour=None)
    anonymous = api.as_token(None)

    document = anonymous.get("/openapi.json")
    page = anonymous.get("/docs")
    with_token = api.get("/openapi.json")

    assert document.status == 200 and page.status == 200 and with_token.status == 200
    assert not any(h.startswith("X-RateLimit") for h in document.headers)
    assert {(r.method, r.path) for r in ROUTES} == {
        (method.upper(), path) for path, item in document.json()["paths"].items() for method in item
    }
    assert page.headers["Content-Type"].startswith("text/html")
    assert "swagger-ui" in page.body.decode() and "https://" not in page.body.decode().split("<script>")[0]
    assert api.get("/kanbans").status == 200  # the one request of this minute is still available
