"""The reference's search examples against `make run`'s stack: stream poller, indexer, real Typesense."""

import pytest

from tests.e2e.conftest import eventually

pytestmark = pytest.mark.e2e
JOHN = "record_1704067200000_abc123"


def found(stack, path: str) -> list[str]:
    response = stack.request("GET", path)
    assert response.status == 200, response.body
    return [item["recordId"] for item in response.json()["items"]]


def test_full_text_search(stack):
    ids = eventually(lambda: found(stack, "/crm/search?q=john&kanbanId=kanban_123"))
    assert ids == [JOHN]
    body = stack.request("GET", "/crm/search?q=john&kanbanId=kanban_123").json()
    assert (body["total"], body["page"], body["pageSize"], body["totalPages"]) == (1, 1, 20, 1)
    item = body["items"][0]
    assert item["channelId"] == "channel_123" and item["createdBy"] == item["updatedBy"] == "user_abc"


@pytest.mark.parametrize("query", ["john", "doe", "lead", "example", "%2B123", "7890", "jonh"])
def test_the_examples_table(stack, query):
    assert JOHN in eventually(lambda: found(stack, f"/crm/search?q={query}"))


def test_custom_field_exact_match_lookup(stack):
    assert found(stack, "/crm/search?customFieldId=field_phone_456&customFieldValue=%2B1234567890") == [JOHN]
    assert found(stack, "/crm/search?customFieldId=field_phone_456&customFieldValue=+1234567890") == [JOHN]


def test_aggregations(stack):
    response = stack.request("GET", "/crm/search/aggregations?kanbanId=kanban_123")
    assert response.status == 200
    assert [s["key"] for s in response.json()["status"]] == ["new", "contacted", "qualified", "closed"]
    assert all(isinstance(s["count"], int) for s in response.json()["status"])


def test_a_new_record_becomes_findable(stack):
    body = {"title": "Zephyrine Quattlebaum", "customFields": {"field_email_123": "zq@acme.test"}}
    created = stack.request("POST", "/crm/records?kanbanId=kanban_123", body=body)
    assert created.status == 201
    record_id = created.json()["recordId"]
    assert eventually(lambda: found(stack, "/crm/search?q=quattlebaum")) == [record_id]
    assert eventually(lambda: found(stack, "/crm/search?q=acme")) == [record_id]
