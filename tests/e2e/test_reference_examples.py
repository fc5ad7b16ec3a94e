"""The reference's (non-search) curl examples, verbatim but for host and token, against `make run`'s stack."""

import pytest

from tests.e2e.conftest import UNAUTHORIZED_ANSWERS

pytestmark = pytest.mark.e2e

RECORD_KEYS = {"recordId", "accountId", "kanbanId", "title", "status", "customFields", "assignedUserIds",
               "createdAt", "updatedAt"}


def test_list_kanbans(stack):
    response = stack.request("GET", "/kanbans")
    assert response.status == 200
    body = response.json()
    assert body["nextToken"] is None
    kanban = next(k for k in body["items"] if k["id"] == "kanban_123")
    assert kanban["name"] == "Sales Pipeline" and kanban["slug"] == "sales-pipeline" and kanban["isDefault"]
    assert kanban["statuses"] == [
        {"value": "new", "label": "New", "color": "#1890ff"},
        {"value": "contacted", "label": "Contacted", "color": "#52c41a"},
        {"value": "qualified", "label": "Qualified", "color": "#722ed1"},
        {"value": "closed", "label": "Closed Won", "color": "#13c2c2"},
    ]
    assert {f["id"] for f in kanban["fields"]} >= {"field_email_123", "field_phone_456", "field_source_789"}


def test_list_records(stack):
    response = stack.request("GET", "/crm/records?kanbanId=kanban_123&limit=10")
    assert response.status == 200
    body = response.json()
    assert set(body) == {"items", "nextToken"}
    assert all(set(item) >= RECORD_KEYS and item["kanbanId"] == "kanban_123" for item in body["items"])


def test_get_record(stack):
    response = stack.request("GET", "/crm/records/record_1704067200000_abc123")
    assert response.status == 200
    record = response.json()
    assert record["title"] == "John Doe - New Lead" and record["accountId"] == "account_xyz"
    assert record["customFields"] == {"field_email_123": "john@example.com", "field_phone_456": "+1234567890",
                                      "field_value_789": 5000}
    assert record["assignedUserIds"] == ["user_abc"]
    assert (record["createdAt"], record["updatedAt"]) == (1704067200000, 1704153600000)


def test_create_update_delete_record(stack):
    created = stack.request("POST", "/crm/records?kanbanId=kanban_123", body={
        "title": "Jane Smith - Website Inquiry",
        "status": "new",
        "customFields": {
            "field_email_123": "jane@example.com",
            "field_phone_456": "+1987654321",
            "field_source_789": "Website",
        },
    })
    assert created.status == 201
    assert created.json()["customFields"]["field_source_789"] == "Website"
    assert created.json()["assignedUserIds"] == []

    updated = stack.request("PUT", "/crm/records/record_1704067200001_def456", body={
        "status": "contacted",
        "customFields": {"field_notes_abc": "Followed up via email on 2024-01-15"},
    })
    assert updated.status == 200
    assert updated.json()["status"] == "contacted"
    assert updated.json()["customFields"] == {
        "field_email_123": "jane@example.com",
        "field_phone_456": "+1987654321",
        "field_source_789": "Website",
        "field_notes_abc": "Followed up via email on 2024-01-15",
    }

    deleted = stack.request("DELETE", "/crm/records/record_1704067200001_def456")
    assert deleted.status == 200 and deleted.json() == {"message": "CRM record deleted successfully"}
    assert stack.request("GET", "/crm/records/record_1704067200001_def456").status == 404


def test_field_definitions(stack):
    response = stack.request("GET", "/crm/fields?kanbanId=kanban_123")
    assert response.status == 200
    fields = {f["fieldId"]: f for f in response.json()["fields"]}
    assert fields["field_email_123"]["boundToChannels"] == ["WhatsApp Business"]
    assert fields["field_source_789"]["options"] == ["Website", "Referral", "Social Media", "Cold Call"]


def test_statuses(stack):
    response = stack.request("GET", "/crm/statuses?kanbanId=kanban_123")
    assert response.status == 200
    assert [s["value"] for s in response.json()["statuses"]] == ["new", "contacted", "qualified", "closed"]


def test_documented_errors(stack):
    missing = stack.request("POST", "/crm/records", body={"status": "new"})
    assert missing.status == 400 and missing.json() == {"error": "Bad Request", "message": "title is required"}
    not_found = stack.request("GET", "/crm/records/record_0_missing")
    assert not_found.status == 404 and not_found.json()["error"] == "Not Found"


@pytest.mark.gateway_only(UNAUTHORIZED_ANSWERS)
def test_documented_unauthorized_error(stack):
    unauthorized = stack.request("GET", "/crm/records", token="wrong")
    assert unauthorized.status == 401 and unauthorized.json()["error"] == "Unauthorized"


@pytest.mark.gateway_only("the local gateway's access log; sam local start-api logs its own lines")
def test_one_log_line_per_request(stack):
    stack.request("GET", "/crm/statuses?kanbanId=kanban_123")
    request_line = "GET /crm/statuses?kanbanId=kanban_123"
    lines = [line for line in stack.log_path.read_text().splitlines() if request_line in line]
    assert lines and " 200 " in lines[-1] and lines[-1].endswith("meta")
