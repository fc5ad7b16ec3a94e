"""Races over HTTP against the local stack, whose handlers run in parallel worker processes."""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.e2e


def test_parallel_creates_with_one_channel_id_leave_exactly_one_record(stack):
    def create(i: int):
        return stack.request("POST", "/crm/records?kanbanId=kanban_123",
                             body={"title": f"WhatsApp lead {i}", "channelId": "wa:+15550100"})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(create, range(20)))

    assert sorted(r.status for r in responses) == [200] * 19 + [201]
    assert len({r.json()["recordId"] for r in responses}) == 1
    listed = stack.request("GET", "/crm/records?kanbanId=kanban_123&limit=100").json()["items"]
    assert [r["channelId"] for r in listed].count("wa:+15550100") == 1


def test_concurrent_updates_of_different_fields_all_survive(stack):
    record = stack.request("POST", "/crm/records?kanbanId=kanban_123", body={"title": "Busy lead"}).json()
    changes = [
        {"customFields": {"field_email_123": "busy@example.com"}},
        {"customFields": {"field_phone_456": "+1555000111"}},
        {"customFields": {"field_value_789": 1200}},
        {"customFields": {"field_source_789": "Referral"}},
        {"customFields": {"field_notes_abc": "called twice"}},
        {"status": "qualified"},
    ] * 2

    with ThreadPoolExecutor(max_workers=len(changes)) as pool:
        statuses = list(pool.map(
            lambda body: stack.request("PUT", f"/crm/records/{record['recordId']}", body=body), changes
        ))

    assert [r.status for r in statuses] == [200] * len(changes), [r.body for r in statuses if r.status != 200]
    final = stack.request("GET", f"/crm/records/{record['recordId']}").json()
    assert final["status"] == "qualified"
    assert final["customFields"] == {
        "field_email_123": "busy@example.com", "field_phone_456": "+1555000111", "field_value_789": 1200,
        "field_source_789": "Referral", "field_notes_abc": "called twice",
    }


def test_crm_admin_bootstrap_against_the_local_stack(stack):
    result = subprocess.run(
        [sys.executable, "-m", "shared.admin_cli", "bootstrap", "--account-name", "Initech",
         "--endpoint-url", f"http://127.0.0.1:{stack.dynamodb_port}"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    created = json.loads(result.stdout)
    response = stack.request("GET", "/kanbans", token=created["token"])
    assert response.status == 200
    assert [k["name"] for k in response.json()["items"]] == ["Sales Pipeline"]
    # The new account sees none of the demo account's records.
    assert stack.request("GET", "/crm/records", token=created["token"]).json()["items"] == []
