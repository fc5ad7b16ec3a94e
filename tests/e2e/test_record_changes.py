"""On the local stack, a write reaches the record's history and the change feed within seconds: the
stream poller feeds the events function as the deployed event source mapping does."""

from .conftest import eventually


def test_a_write_shows_up_in_the_change_feed_and_the_history_within_seconds(stack):
    start = stack.request("GET", "/crm/changes?limit=100")
    assert start.status == 200, start.body
    cursor = start.json()["nextToken"]
    while (page := stack.request("GET", f"/crm/changes?limit=100&since={cursor}").json())["items"]:
        cursor = page["nextToken"]  # past whatever other tests wrote before
    created = stack.request("POST", "/crm/records?kanbanId=kanban_123", body={"title": "Feed me"})
    assert created.status == 201, created.body
    record_id = created.json()["recordId"]
    assert stack.request("PUT", f"/crm/records/{record_id}", body={"status": "contacted"}).status == 200

    def mine():
        items = stack.request("GET", f"/crm/changes?limit=100&since={cursor}").json()["items"]
        found = [(i["action"], i["version"]) for i in items if i["recordId"] == record_id]
        return found if len(found) == 2 else None

    assert eventually(mine, timeout=5) == [("created", 1), ("updated", 2)]
    history = stack.request("GET", f"/crm/records/{record_id}/history")
    assert history.status == 200, history.body
    assert [(i["action"], i["changes"].get("status")) for i in history.json()["items"]] == [
        ("updated", {"from": "new", "to": "contacted"}), ("created", {"from": None, "to": "new"})]
