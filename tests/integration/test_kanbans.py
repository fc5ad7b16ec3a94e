"""Kanbans, field and status definitions through the real handlers."""

import pytest

from tests.integration.conftest import create_member


def test_list_kanbans_in_the_reference_shape(api, account):
    response = api.get("/kanbans")

    assert response.status == 200
    body = response.json()
    assert body["nextToken"] is None
    [kanban] = body["items"]
    assert kanban["id"] == account["kanbanId"] and kanban["isDefault"] is True
    assert kanban["slug"] == "sales-pipeline" and kanban["order"] == 0
    assert [s["value"] for s in kanban["statuses"]] == ["new", "contacted", "qualified", "closed"]
    assert kanban["statuses"][3] == {"value": "closed", "label": "Closed Won", "color": "#13c2c2"}
    assert set(kanban) == {"id", "name", "slug", "description", "isDefault", "order", "createdAt", "updatedAt",
                           "statuses", "fields"}


def test_create_kanban_assigns_field_ids_slug_and_order(api, board):
    assert board["id"].startswith("kanban_") and board["slug"] == "deals" and board["order"] == 1
    assert board["isDefault"] is False
    for position, field in enumerate(board["fields"]):
        assert field["id"].startswith("field_") and field["order"] == position and field["isSystem"] is False
    select = next(f for f in board["fields"] if f["type"] == "select")
    assert select["options"] == ["Website", "Referral", "Social Media", "Cold Call"]
    assert "options" not in next(f for f in board["fields"] if f["type"] == "text")
    assert api.get(f"/kanbans/{board['id']}").json() == {k: v for k, v in board.items() if k != "f"}


def test_slugs_stay_unique_per_account(api):
    slugs = [api.post("/kanbans", {"name": "Sales Pipeline"}).json()["slug"] for _ in range(2)]
    assert slugs == ["sales-pipeline-2", "sales-pipeline-3"]


@pytest.mark.parametrize(("body", "message"), [
    ({}, "name is required"),
    ({"name": "x", "statuses": []}, "statuses"),
    ({"name": "x", "statuses": [{"value": "a", "label": "A"}, {"value": "a", "label": "B"}]}, "duplicate"),
    ({"name": "x", "statuses": [{"value": "Not Valid", "label": "A"}]}, "statuses.0.value"),
    ({"name": "x", "statuses": [{"value": "a", "label": "A", "color": "red"}]}, "statuses.0.color"),
    ({"name": "x", "fields": [{"name": "Kind", "type": "select"}]}, "needs options"),
    ({"name": "x", "fields": [{"name": "Age", "type": "number", "options": ["1"]}]}, "cannot have options"),
    ({"name": "x", "fields": [{"name": "Age", "type": "integer"}]}, "fields.0.type"),
    ({"name": "x", "isSystem": True}, "isSystem is not a known field"),
])
def test_invalid_kanbans_are_400(api, body, message):
    response = api.post("/kanbans", body)
    assert response.status == 400
    assert message in response.json()["message"]


def test_update_keeps_field_ids_adds_new_ones_and_refuses_type_changes(api, board):
    email = next(f for f in board["fields"] if f["type"] == "email")
    response = api.put(f"/kanbans/{board['id']}", {"fields": [
        {"id": email["id"], "name": "Work Email", "type": "email"},
        {"name": "Twitter", "type": "url"},
    ]})
    assert response.status == 200
    fields = response.json()["fields"]
    assert fields[0]["id"] == email["id"] and fields[0]["name"] == "Work Email"
    assert fields[1]["id"].startswith("field_") and fields[1]["id"] != email["id"]

    changed_type = api.put(f"/kanbans/{board['id']}", {"fields": [{"id": email["id"], "name": "E", "type": "phone"}]})
    assert changed_type.status == 409
    unknown_id = api.put(f"/kanbans/{board['id']}", {"fields": [{"id": "field_x", "name": "E", "type": "text"}]})
    assert unknown_id.status == 400


def test_renaming_changes_the_slug(api, board):
    response = api.put(f"/kanbans/{board['id']}", {"name": "Enterprise Deals"})
    assert response.json()["slug"] == "enterprise-deals"
    # The old slug is free again.
    assert api.post("/kanbans", {"name": "Deals"}).json()["slug"] == "deals"


def test_a_status_that_holds_records_cannot_be_removed(api, account):
    api.post("/crm/records", {"title": "x", "status": "qualified"})
    statuses = [{"value": "new", "label": "New"}, {"value": "closed", "label": "Closed"}]

    response = api.put(f"/kanbans/{account['kanbanId']}", {"statuses": statuses})

    assert response.status == 409 and "qualified" in response.json()["message"]
    empty_removed = api.put(f"/kanbans/{account['kanbanId']}",
                            {"statuses": [*statuses, {"value": "qualified", "label": "Q"}]})
    assert empty_removed.status == 200
    assert [s["value"] for s in empty_removed.json()["statuses"]] == ["new", "closed", "qualified"]


def test_removed_fields_keep_their_stored_values(api, board):
    text = board["f"]["text"]
    record = api.post("/crm/records", {"title": "x", "customFields": {text: "kept"}},
                      query={"kanbanId": board["id"]}).json()
    api.put(f"/kanbans/{board['id']}", {"fields": []})
    assert api.get(f"/crm/records/{record['recordId']}").json()["customFields"] == {text: "kept"}
    # A value of a removed field can still be removed, but not set.
    assert api.put(f"/crm/records/{record['recordId']}", {"customFields": {text: "new"}}).status == 400
    cleared = api.put(f"/crm/records/{record['recordId']}", {"customFields": {text: None}})
    assert cleared.status == 200 and cleared.json()["customFields"] == {}


def test_one_default_kanban_per_account(api, account, board):
    response = api.put(f"/kanbans/{board['id']}", {"isDefault": True})
    assert response.json()["isDefault"] is True
    defaults = [k["id"] for k in api.get("/kanbans").json()["items"] if k["isDefault"]]
    assert defaults == [board["id"]]
    # Records without kanbanId now go to the new default.
    assert api.post("/crm/records", {"title": "x"}).json()["kanbanId"] == board["id"]
    assert api.put(f"/kanbans/{board['id']}", {"isDefault": False}).status == 400


def test_delete_kanban_refuses_records_and_the_default(api, account, board):
    record = api.post("/crm/records", {"title": "x"}, query={"kanbanId": board["id"]}).json()
    assert api.delete(f"/kanbans/{board['id']}").status == 409
    assert api.delete(f"/kanbans/{account['kanbanId']}").status == 409

    api.delete(f"/crm/records/{record['recordId']}")
    response = api.delete(f"/kanbans/{board['id']}")

    assert response.status == 200
    assert api.get(f"/kanbans/{board['id']}").status == 404
    assert [k["id"] for k in api.get("/kanbans").json()["items"]] == [account["kanbanId"]]


def test_records_of_a_missing_kanban_are_404(api):
    assert api.post("/crm/records", {"title": "x"}, query={"kanbanId": "kanban_missing"}).status == 404
    assert api.get("/crm/records", query={"kanbanId": "kanban_missing"}).status == 404


def test_kanban_list_pagination(api):
    for i in range(4):
        api.post("/kanbans", {"name": f"Board {i}"})
    first = api.get("/kanbans", query={"limit": 3}).json()
    second = api.get("/kanbans", query={"limit": 3, "nextToken": first["nextToken"]}).json()
    names = [k["name"] for k in first["items"] + second["items"]]
    assert names == ["Sales Pipeline", "Board 0", "Board 1", "Board 2", "Board 3"]
    assert second["nextToken"] is None


def test_field_and_status_definitions(api, account, board):
    fields = api.get("/crm/fields", query={"kanbanId": board["id"]}).json()["fields"]
    assert [f["fieldId"] for f in fields] == [f["id"] for f in board["fields"]]
    assert set(fields[0]) == {"fieldId", "name", "type", "description", "order", "isSystem", "boundToChannels",
                              "unique"}
    assert api.get("/crm/fields").json() == {"fields": []}  # the default kanban has none
    everything = api.get("/crm/fields", query={"all": "true"}).json()["fields"]
    assert {f["kanbanId"] for f in everything} == {board["id"]} and len(everything) == 12
    statuses = api.get("/crm/statuses").json()["statuses"]
    assert [s["value"] for s in statuses] == ["new", "contacted", "qualified", "closed"]
    assert api.get("/crm/fields", query={"all": "maybe"}).status == 400
    assert api.get("/crm/fields", query={"all": "true", "kanbanId": board["id"]}).status == 400


class TestMemberAccess:
    def test_members_see_and_touch_only_their_kanbans(self, api, account, board):
        _, token = create_member(api, [board["id"]])
        member = api.as_token(token)
        private = api.post("/crm/records", {"title": "secret"}).json()  # default kanban: no access
        shared = api.post("/crm/records", {"title": "team"}, query={"kanbanId": board["id"]}).json()

        assert [k["id"] for k in member.get("/kanbans").json()["items"]] == [board["id"]]
        assert [k["id"] for k in member.get("/kanbans", query={"accessible": "true"}).json()["items"]] == [board["id"]]
        assert [r["title"] for r in member.get("/crm/records").json()["items"]] == ["team"]
        assert member.get(f"/crm/records/{shared['recordId']}").status == 200
        for response in (
            member.get(f"/crm/records/{private['recordId']}"),
            member.put(f"/crm/records/{private['recordId']}", {"title": "mine"}),
            member.delete(f"/crm/records/{private['recordId']}"),
            member.get("/crm/records", query={"kanbanId": account["kanbanId"]}),
            member.post("/crm/records", {"title": "x"}),  # default kanban
            member.get(f"/kanbans/{account['kanbanId']}"),
            member.get("/crm/statuses"),
        ):
            assert response.status == 403, response.body
            assert response.json()["error"] == "Forbidden"
        assert member.post("/crm/records", {"title": "ok"}, query={"kanbanId": board["id"]}).status == 201

    def test_members_cannot_manage(self, api, board):
        _, token = create_member(api, [board["id"]])
        member = api.as_token(token)
        assert member.post("/kanbans", {"name": "x"}).status == 403
        assert member.put(f"/kanbans/{board['id']}", {"name": "x"}).status == 403
        assert member.get("/users").status == 403
        assert member.post("/tokens", {"userId": "user_x"}).status == 403

    def test_admins_see_everything_and_accessible_lists_it_all(self, api, board):
        assert len(api.get("/kanbans", query={"accessible": "true"}).json()["items"]) == 2
