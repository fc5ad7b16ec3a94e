"""Record history and the change feed through the real handlers: API writes -> table stream -> events
handler -> history and feed entries -> GET /crm/records/{id}/history and GET /crm/changes; and the same
changes on the EventBridge bus."""

import json

import boto3
import pytest

from shared.ids import now_ms
from shared.local.gateway import invoke_handler
from shared.repository import dynamo, keys
from shared.routes import EVENTS_HANDLER

from .conftest import create_member, events_stream_of


def _create(api, title="Jane Smith", **body):
    response = api.post("/crm/records", {"title": title, **body})
    assert response.status == 201, response.body
    return response.json()


def _history(api, record_id, **query):
    response = api.get(f"/crm/records/{record_id}/history", query=query)
    assert response.status == 200, response.body
    return response.json()


def _feed(api, since=None, **query):
    response = api.get("/crm/changes", query={**({"since": since} if since else {}), **query})
    assert response.status == 200, response.body
    return response.json()


def trash(account_id: str, record_id: str, user_id: str, deleted_at: int) -> None:
    """What DELETE does once records go to the trash: the record item leaves, a trash item with its
    attributes, deletedAt, deletedBy and the next version arrives, in one transaction."""
    pk = keys.record_pk(account_id, record_id)
    item = dynamo.get(pk, keys.RECORD_SK)
    trashed = {k: v for k, v in item.items() if not k.startswith("GSI") and k != "CREATED"}
    trashed |= {"SK": keys.TRASH_SK, "deletedAt": deleted_at, "deletedBy": user_id, "version": item["version"] + 1}
    dynamo.transact([dynamo.Write(dynamo.delete(pk, keys.RECORD_SK)), dynamo.Write(dynamo.put(trashed))])


def restore(account_id: str, record_id: str, user_id: str, restored_at: int) -> None:
    pk = keys.record_pk(account_id, record_id)
    item = dynamo.get(pk, keys.TRASH_SK)
    restored = {k: v for k, v in item.items() if k not in ("deletedAt", "deletedBy")}
    restored |= {"SK": keys.RECORD_SK, "version": item["version"] + 1, "updatedAt": restored_at,
                 "updatedBy": user_id}
    dynamo.transact([dynamo.Write(dynamo.delete(pk, keys.TRASH_SK)), dynamo.Write(dynamo.put(restored))])


def test_every_kind_of_change_is_in_the_history_newest_first(api, account, board, changes_stream):
    response = api.post("/crm/records", {"title": "Jane", "customFields": {board["f"]["text"]: "Acme"}},
                        query={"kanbanId": board["id"]})
    assert response.status == 201, response.body
    record = response.json()
    record_id, user = record["recordId"], account["userId"]
    assert api.put(f"/crm/records/{record_id}", {"status": "contacted", "title": "Jane Smith"}).status == 200
    assert api.put(f"/crm/records/{record_id}", {"customFields": {board["f"]["text"]: None,
                                                                  board["f"]["number"]: 7}}).status == 200
    assert api.put(f"/crm/records/{record_id}", {"assignedUserIds": [user]}).status == 200
    changes_stream.drain()
    trash(account["accountId"], record_id, user, 1_800_000_000_000)
    restore(account["accountId"], record_id, user, 1_800_000_000_500)
    changes_stream.drain()

    items = _history(api, record_id)["items"]

    assert [(i["version"], i["action"]) for i in items] == [
        (6, "restored"), (5, "deleted"), (4, "updated"), (3, "updated"), (2, "updated"), (1, "created")]
    assert items[1] == {"version": 5, "action": "deleted", "at": 1_800_000_000_000, "by": user, "changes": {}}
    assert items[0]["at"] == 1_800_000_000_500 and items[0]["changes"] == {}
    assert items[2]["changes"] == {"assignedUserIds": {"from": [], "to": [user]}}
    assert items[3]["changes"] == {f"customFields.{board['f']['text']}": {"from": "Acme", "to": None},
                                   f"customFields.{board['f']['number']}": {"from": None, "to": 7}}
    assert items[4]["changes"] == {"title": {"from": "Jane", "to": "Jane Smith"},
                                   "status": {"from": "new", "to": "contacted"}}
    assert items[5]["changes"] == {"title": {"from": None, "to": "Jane"}, "status": {"from": None, "to": "new"},
                                   f"customFields.{board['f']['text']}": {"from": None, "to": "Acme"}}
    assert items[5]["at"] == record["createdAt"] and items[5]["by"] == user


def test_history_pages_and_its_token_is_bound_to_the_record(api, changes_stream):
    record_id = _create(api)["recordId"]
    for title in ("B", "C"):
        assert api.put(f"/crm/records/{record_id}", {"title": title}).status == 200
    other = _create(api, "Other")["recordId"]
    changes_stream.drain()

    first = _history(api, record_id, limit=2)
    second = _history(api, record_id, limit=2, nextToken=first["nextToken"])

    assert [i["version"] for i in first["items"] + second["items"]] == [3, 2, 1]
    assert second["nextToken"] is None
    assert api.get(f"/crm/records/{other}/history", query={"nextToken": first["nextToken"]}).status == 400
    assert api.get(f"/crm/records/{record_id}/history", query={"limit": 101}).status == 400


def test_history_is_404_for_unknown_records_and_other_accounts_and_403_without_access(
        api, emulator, board, changes_stream):
    from shared.logic.admin import bootstrap_account

    from .conftest import Api

    on_board = api.post("/crm/records", {"title": "Board"}, query={"kanbanId": board["id"]}).json()["recordId"]
    on_default = _create(api)["recordId"]
    changes_stream.drain()
    other = Api(emulator, bootstrap_account("Other Inc", "Olga", "olga@example.com")["token"])
    _, member_token = create_member(api, [board["id"]])
    member = api.as_token(member_token)

    assert api.get("/crm/records/record_1_missing/history").status == 404
    assert other.get(f"/crm/records/{on_board}/history").status == 404
    assert member.get(f"/crm/records/{on_board}/history").status == 200
    assert member.get(f"/crm/records/{on_default}/history").status == 403


def test_history_outlives_a_delete(api, changes_stream):
    record_id = _create(api)["recordId"]
    assert api.delete(f"/crm/records/{record_id}").status == 200
    changes_stream.drain()

    # A delete that removes the record leaves its history as it was; one that moves it to the trash adds
    # a "deleted" entry.
    assert [i["action"] for i in _history(api, record_id)["items"]] in (["created"], ["deleted", "created"])
    assert api.get(f"/crm/records/{record_id}").status == 404


def test_the_feed_lists_changes_in_order_with_the_record_and_a_cursor_to_poll_with(api, account, changes_stream):
    first = _create(api, "First")
    empty = _feed(api)
    second = _create(api, "Second")
    assert api.put(f"/crm/records/{first['recordId']}", {"status": "contacted"}).status == 200
    changes_stream.drain()

    page = _feed(api, limit=2)
    rest = _feed(api, since=page["nextToken"])
    caught_up = _feed(api, since=rest["nextToken"])

    assert [(i["recordId"], i["action"], i["version"]) for i in page["items"] + rest["items"]] == [
        (first["recordId"], "created", 1), (second["recordId"], "created", 1), (first["recordId"], "updated", 2)]
    assert page["items"][0]["record"] == first
    assert rest["items"][0]["record"]["status"] == "contacted"
    assert rest["items"][0]["at"] == rest["items"][0]["record"]["updatedAt"]
    assert caught_up == {"items": [], "nextToken": rest["nextToken"]}
    # The cursor of an empty feed is where the client is: it later gets everything.
    assert len(_feed(api, since=empty["nextToken"])["items"]) == 3
    trash(account["accountId"], second["recordId"], account["userId"], now_ms())
    changes_stream.drain()
    deleted = _feed(api, since=rest["nextToken"])["items"]
    assert [(i["action"], i["version"], i["record"]) for i in deleted] == [("deleted", 2, None)]


def test_the_feed_shows_members_only_their_kanbans_and_filters_by_kanban(api, board, changes_stream):
    on_board = api.post("/crm/records", {"title": "Board"}, query={"kanbanId": board["id"]}).json()["recordId"]
    _create(api, "Default")
    changes_stream.drain()
    _, member_token = create_member(api, [board["id"]])
    member = api.as_token(member_token)

    assert [i["recordId"] for i in _feed(member)["items"]] == [on_board]
    assert [i["recordId"] for i in _feed(api, kanbanId=board["id"])["items"]] == [on_board]
    assert len(_feed(api)["items"]) == 2
    # The cursor moves past what the member may not see, and is bound to its filter.
    token = _feed(member, limit=1)["nextToken"]
    assert _feed(member, since=token)["items"] == []
    refused = api.get("/crm/changes", query={"since": token, "kanbanId": board["id"]})
    assert refused.status == 400 and refused.json()["message"].startswith("since is invalid")
    assert member.get("/crm/changes", query={"kanbanId": "kanban_1_other"}).status == 404


def test_a_batch_delivered_again_is_recorded_once(api, table, event_bus):
    recorded = []
    poller = events_stream_of(table, lambda event: recorded.append(event) or invoke_handler(EVENTS_HANDLER, event))
    record_id = _create(api)["recordId"]
    assert api.put(f"/crm/records/{record_id}", {"title": "Again"}).status == 200
    poller.drain()

    assert invoke_handler(EVENTS_HANDLER, recorded[0]) == {"batchItemFailures": []}

    assert [(i["version"]) for i in _feed(api)["items"]] == [1, 2]
    assert [i["version"] for i in _history(api, record_id)["items"]] == [2, 1]


def test_a_failed_change_fails_itself_and_everything_after_it(api, table, event_bus, monkeypatch):
    from shared.repository import changes

    batches = []
    poller = events_stream_of(table, lambda event: batches.append(event) or {"batchItemFailures": []})
    first, second, third = (_create(api, t)["recordId"] for t in ("A", "B", "C"))
    poller.drain()
    (event,) = batches
    real_append = changes.append

    def refuse_b(account_id, after, pending, now):
        if any(c.record_id == second for c in pending):
            raise changes.retries.StorageUnavailable("the table is busy")
        real_append(account_id, after, pending, now)

    monkeypatch.setattr(changes, "append", refuse_b)
    monkeypatch.setattr(changes, "MAX_TRANSACTION_ITEMS", 3)  # one change per transaction
    response = invoke_handler(EVENTS_HANDLER, event)

    sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in sequence_numbers[1:]]}
    assert [i["recordId"] for i in _feed(api)["items"]] == [first]
    monkeypatch.setattr(changes, "append", real_append)
    assert invoke_handler(EVENTS_HANDLER, {"Records": event["Records"][1:]}) == {"batchItemFailures": []}
    assert [i["recordId"] for i in _feed(api)["items"]] == [first, second, third]


def test_a_consumer_that_loses_the_race_for_the_feed_counter_reads_it_again(api, table, event_bus, monkeypatch):
    from shared.repository import changes

    batches = []
    poller = events_stream_of(table, lambda event: batches.append(event) or {"batchItemFailures": []})
    first = _create(api, "First")["recordId"]
    poller.drain()
    second = _create(api, "Second")["recordId"]
    poller.drain()
    first_batch, second_batch = batches
    real_read, reads = changes.feed_sequence, []

    def read_then_lose_the_race(account_id):
        sequence = real_read(account_id)
        reads.append(sequence)
        if len(reads) == 1:  # another consumer records its batch between this read and this write
            assert invoke_handler(EVENTS_HANDLER, second_batch) == {"batchItemFailures": []}
        return sequence

    monkeypatch.setattr(changes, "feed_sequence", read_then_lose_the_race)
    assert invoke_handler(EVENTS_HANDLER, first_batch) == {"batchItemFailures": []}

    assert reads == [0, 0, 1]  # the loser's read, the winner's, the loser's again
    assert [(i["recordId"], i["version"]) for i in _feed(api)["items"]] == [(second, 1), (first, 1)]


def test_bad_feed_parameters_are_400(api, changes_stream):
    for query in ({"since": "garbage"}, {"limit": 0}, {"limit": 101}, {"sinse": "x"}):
        assert api.get("/crm/changes", query=query).status == 400, query


# --- EventBridge -------------------------------------------------------------------------------------


@pytest.fixture
def bus_queue(event_bus) -> str:
    """An SQS queue that a rule on the bus feeds with every record event."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue_url = sqs.create_queue(QueueName="crm-record-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all-record-events", EventBusName=event_bus,
                    EventPattern=json.dumps({"source": ["crm.records"]}))
    events.put_targets(Rule="all-record-events", EventBusName=event_bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return queue_url


def _received(queue_url: str) -> list[dict]:
    sqs, found = boto3.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        found += [json.loads(m["Body"]) for m in messages]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    return found


def test_each_change_is_an_event_on_the_bus(api, account, changes_stream, bus_queue):
    record = _create(api)
    record_id = record["recordId"]
    assert api.put(f"/crm/records/{record_id}", {"status": "qualified"}).status == 200
    assert api.put(f"/crm/records/{record_id}", {"title": "Jane S."}).status == 200
    changes_stream.drain()
    trash(account["accountId"], record_id, account["userId"], now_ms())
    restore(account["accountId"], record_id, account["userId"], now_ms())
    changes_stream.drain()

    events = _received(bus_queue)

    assert [(e["detail-type"], e["detail"]["eventId"]) for e in events] == [
        ("record.created", f"evt_{record_id}_1_created"),
        ("record.updated", f"evt_{record_id}_2_updated"),
        ("record.status_changed", f"evt_{record_id}_2_status_changed"),
        ("record.updated", f"evt_{record_id}_3_updated"),
        ("record.deleted", f"evt_{record_id}_4_deleted"),
        ("record.restored", f"evt_{record_id}_5_restored"),
    ]
    assert {e["source"] for e in events} == {"crm.records"}
    created = events[0]["detail"]
    assert created["accountId"] == account["accountId"] and created["record"] == record
    assert events[2]["detail"]["changes"] == {"status": {"from": "new", "to": "qualified"}}
    assert events[4]["detail"]["record"]["title"] == "Jane S."
    assert set(created) == {"eventId", "accountId", "record", "changes", "version", "at"}


def test_events_refused_by_eventbridge_fail_the_batch_from_that_change(api, table, event_bus, monkeypatch):
    from shared import eventbus

    batches = []
    poller = events_stream_of(table, lambda event: batches.append(event) or {"batchItemFailures": []})
    _create(api, "A")
    _create(api, "B")
    poller.drain()
    (event,) = batches
    real = eventbus.events_client()

    class RefusesTheSecond:
        def put_events(self, Entries):
            refused = [json.loads(e["Detail"])["record"]["title"] == "B" for e in Entries]
            real.put_events(Entries=[e for e, no in zip(Entries, refused, strict=True) if not no])
            return {"FailedEntryCount": sum(refused), "Entries": [
                {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"} if no else {"EventId": "x"}
                for no in refused]}

    monkeypatch.setattr(eventbus, "_PAUSE_SECONDS", 0)
    monkeypatch.setattr(eventbus, "events_client", lambda: RefusesTheSecond())

    response = invoke_handler(EVENTS_HANDLER, event)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["dynamodb"]["SequenceNumber"]}]}
    # Both were recorded: the redelivery only publishes the second again.
    assert len(_feed(api)["items"]) == 2


def _put_feed_entry(account_id: str, sequence: int, recorded_at: int, record_id: str = "record_1_a") -> None:
    dynamo.transact([dynamo.Write(dynamo.put({
        "PK": keys.feed_pk(account_id), "SK": keys.feed_sk(sequence), "recordId": record_id, "kanbanId": "kanban_x",
        "action": "deleted", "version": sequence, "at": recorded_at, "recordedAt": recorded_at}))])


def test_the_cursor_waits_at_a_gap_of_a_write_still_committing_and_passes_one_left_by_retention(api, account):
    account_id = account["accountId"]
    _put_feed_entry(account_id, 1, now_ms())
    _put_feed_entry(account_id, 3, now_ms())  # 2 is missing, and 3 was recorded just now

    first = _feed(api)
    assert [i["version"] for i in first["items"]] == [1]
    assert _feed(api, since=first["nextToken"])["items"] == []

    _put_feed_entry(account_id, 2, now_ms())  # the write that was committing
    assert [i["version"] for i in _feed(api, since=first["nextToken"])["items"]] == [2, 3]

    _put_feed_entry(account_id, 6, now_ms() - 120_000)  # 4 and 5 expired long ago
    assert [i["version"] for i in _feed(api, since=first["nextToken"])["items"]] == [2, 3, 6]
