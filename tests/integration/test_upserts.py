"""POST /crm/records?upsert=true: update the record the channelId, or else a unique field's value,
matches (200), or create one (201); a body matching two records is a 409."""

from typing import Any


def _upsert(api, board: dict[str, Any], body: dict[str, Any]):
    return api.post("/crm/records", body, query={"kanbanId": board["id"], "upsert": "true"})


def _records(api, board) -> list[dict[str, Any]]:
    return api.get("/crm/records", query={"kanbanId": board["id"], "limit": 100}).json()["items"]


def test_an_upsert_without_a_match_creates_the_record(api, unique_board):
    response = _upsert(api, unique_board, {"title": "Jane", "customFields": {unique_board["f"]["Email"]: "j@x.io"}})

    assert response.status == 201
    assert _records(api, unique_board) == [response.json()]


def test_an_upsert_matching_a_channel_id_updates_that_record(api, unique_board):
    email, company = unique_board["f"]["Email"], unique_board["f"]["Company"]
    first = _upsert(api, unique_board, {"title": "Chat", "channelId": "wa:1", "customFields": {email: "j@x.io"}})

    again = _upsert(api, unique_board, {"title": "Chat, again", "channelId": "wa:1", "status": "contacted",
                                        "customFields": {company: "Acme"}})

    assert again.status == 200
    updated = again.json()
    assert updated["recordId"] == first.json()["recordId"]
    assert updated["title"] == "Chat, again" and updated["status"] == "contacted"
    # customFields merge as on PUT.
    assert updated["customFields"] == {email: "j@x.io", company: "Acme"}
    assert _records(api, unique_board) == [updated]


def test_an_upsert_matching_a_unique_value_updates_that_record(api, unique_board):
    email, phone = unique_board["f"]["Email"], unique_board["f"]["Phone"]
    first = _upsert(api, unique_board, {"title": "Jane", "customFields": {email: "jane@example.com"}}).json()

    again = _upsert(api, unique_board, {"title": "Jane Smith",
                                        "customFields": {email: "JANE@example.com ", phone: "+15550100"}})

    assert again.status == 200
    assert again.json()["recordId"] == first["recordId"]
    assert again.json()["customFields"] == {email: "JANE@example.com", phone: "+15550100"}
    assert len(_records(api, unique_board)) == 1


def test_assignees_are_left_alone_unless_the_body_names_them(api, account, unique_board):
    email = unique_board["f"]["Email"]
    first = _upsert(api, unique_board, {"title": "Jane", "assignedUserIds": [account["userId"]],
                                        "customFields": {email: "jane@example.com"}}).json()

    again = _upsert(api, unique_board, {"title": "Jane", "customFields": {email: "jane@example.com"}}).json()

    assert again["assignedUserIds"] == first["assignedUserIds"] == [account["userId"]]


def test_a_body_matching_two_records_is_a_409_naming_both(api, unique_board):
    email, phone = unique_board["f"]["Email"], unique_board["f"]["Phone"]
    one = _upsert(api, unique_board, {"title": "A", "customFields": {email: "a@example.com"}}).json()
    two = _upsert(api, unique_board, {"title": "B", "channelId": "sms:2", "customFields": {phone: "+1555"}}).json()

    by_fields = _upsert(api, unique_board, {"title": "AB", "customFields": {email: "a@example.com", phone: "+1555"}})
    by_channel = _upsert(api, unique_board, {"title": "AB", "channelId": "sms:2",
                                             "customFields": {email: "a@example.com"}})

    for response in (by_fields, by_channel):
        assert response.status == 409
        assert one["recordId"] in response.json()["message"] and two["recordId"] in response.json()["message"]
    assert sorted(r["title"] for r in _records(api, unique_board)) == ["A", "B"]


def test_a_channel_id_other_than_the_matched_records_is_a_409(api, unique_board):
    email = unique_board["f"]["Email"]
    first = _upsert(api, unique_board, {"title": "A", "channelId": "wa:1", "customFields": {email: "a@x.io"}}).json()

    response = _upsert(api, unique_board, {"title": "A", "channelId": "wa:2", "customFields": {email: "a@x.io"}})

    assert response.status == 409
    assert first["recordId"] in response.json()["message"]
    assert _records(api, unique_board) == [first]


def test_a_value_of_a_field_that_is_not_unique_does_not_match(api, unique_board):
    company = unique_board["f"]["Company"]
    _upsert(api, unique_board, {"title": "A", "customFields": {company: "Acme"}})

    assert _upsert(api, unique_board, {"title": "B", "customFields": {company: "Acme"}}).status == 201
    assert len(_records(api, unique_board)) == 2


def test_without_upsert_a_held_unique_value_is_still_a_409(api, unique_board):
    email = unique_board["f"]["Email"]
    _upsert(api, unique_board, {"title": "A", "customFields": {email: "a@x.io"}})

    response = api.post("/crm/records", {"title": "B", "customFields": {email: "a@x.io"}},
                        query={"kanbanId": unique_board["id"], "upsert": "false"})

    assert response.status == 409


def test_an_invalid_upsert_body_is_a_400_and_changes_nothing(api, unique_board):
    email = unique_board["f"]["Email"]
    first = _upsert(api, unique_board, {"title": "A", "customFields": {email: "a@x.io"}}).json()

    response = _upsert(api, unique_board, {"title": "A", "status": "nope", "customFields": {email: "a@x.io"}})

    assert response.status == 400
    assert _records(api, unique_board) == [first]
