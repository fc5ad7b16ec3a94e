"""Concurrent upserts over HTTP against the local stack, whose handlers run in parallel worker processes."""

from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("key", ["channelId", "unique email"])
def test_concurrent_upserts_of_one_key_leave_exactly_one_record(stack, key):
    kanban = stack.request("POST", "/kanbans", body={
        "name": f"Upserts by {key}", "fields": [{"name": "Email", "type": "email", "unique": True}],
    }).json()
    email = kanban["fields"][0]["id"]

    def upsert(i: int):
        body = {"title": f"Lead {i}", "channelId": "wa:+15550199"} if key == "channelId" else \
            {"title": f"Lead {i}", "customFields": {email: "Race@Example.com"}}
        return stack.request("POST", f"/crm/records?kanbanId={kanban['id']}&upsert=true", body=body)

    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(upsert, range(12)))

    assert sorted(r.status for r in responses) == [200] * 11 + [201], [r.body for r in responses if r.status >= 300]
    assert len({r.json()["recordId"] for r in responses}) == 1
    listed = stack.request("GET", f"/crm/records?kanbanId={kanban['id']}&limit=100").json()["items"]
    assert len(listed) == 1
