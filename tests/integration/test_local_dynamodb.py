"""The local stack's embedded DynamoDB: moto patched so transactions copy only what they touch and the
stream forgets what the poller consumed, and the poller that feeds the indexer only record changes."""

import gc
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from shared.local import moto_patch
from shared.local.stream_poller import StreamPoller
from shared.repository.keys import RECORD_SK, kanban_counts_key, rate_counter_key, record_pk
from shared.repository.table import create_table
from shared.settings import get_settings

ACCOUNT = "account_1"


@pytest.fixture
def client():
    """A table built from the shared definition in a patched moto."""
    moto_patch.apply()
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        create_table(dynamodb, get_settings().table_name)
        yield dynamodb


@pytest.fixture
def table(client) -> str:
    return get_settings().table_name


def record_item(record_id: str, title: str = "Lead", kanban: str = "kanban_1") -> dict[str, Any]:
    """A record item with list-index (GSI1) and field-value-index attributes."""
    return {"PK": {"S": record_pk(ACCOUNT, record_id)}, "SK": {"S": RECORD_SK}, "title": {"S": title},
            "GSI1PK": {"S": f"{ACCOUNT}#{kanban}"}, "CREATED": {"S": f"1700000000000#{record_id}"},
            "FVPK": {"S": f"{ACCOUNT}#email"}, "FVSK": {"S": f"{title.lower()}#{record_id}"}}


def counter_key(kanban: str = "kanban_1") -> dict[str, Any]:
    pk, sk = kanban_counts_key(ACCOUNT, kanban)
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def put_records(client, table: str, count: int) -> None:
    for start in range(0, count, 25):
        numbers = range(start, min(start + 25, count))
        client.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": record_item(f"record_{n}", f"Lead {n}")}} for n in numbers]})


def table_state(client, table: str) -> dict[str, Any]:
    """Every item, and what the list and field-value indexes answer."""
    items = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(page["Items"])
    return {
        "items": sorted(items, key=lambda item: (item["PK"]["S"], item["SK"]["S"])),
        "list": client.query(TableName=table, IndexName="GSI1", KeyConditionExpression="GSI1PK = :pk",
                             ExpressionAttributeValues={":pk": {"S": f"{ACCOUNT}#kanban_1"}})["Items"],
        "field values": client.query(TableName=table, IndexName="FieldValueIndex", KeyConditionExpression="FVPK = :pk",
                                     ExpressionAttributeValues={":pk": {"S": f"{ACCOUNT}#email"}})["Items"],
    }


def stream_records(table: str) -> list[dict[str, Any]]:
    """What a new reader of the stream gets from its oldest record on."""
    client = boto3.client("dynamodb")
    streams = boto3.client("dynamodbstreams")
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]


def writes_of_one_transaction(table: str, failing_check_first: bool, duplicate_key: bool = False) -> list[dict]:
    """A put of a new record, an update that moves a record to another kanban, a delete, a counter update,
    and a condition check that fails (first or last; moto applies the other writes before rolling back)."""
    writes = [
        {"Put": {"TableName": table, "Item": record_item("record_new", "Newcomer")}},
        {"Update": {"TableName": table, "Key": {"PK": {"S": record_pk(ACCOUNT, "record_1")}, "SK": {"S": RECORD_SK}},
                    "UpdateExpression": "SET GSI1PK = :other, title = :title",
                    "ExpressionAttributeValues": {":other": {"S": f"{ACCOUNT}#kanban_2"}, ":title": {"S": "Moved"}}}},
        {"Delete": {"TableName": table, "Key": {"PK": {"S": record_pk(ACCOUNT, "record_2")}, "SK": {"S": RECORD_SK}}}},
        {"Update": {"TableName": table, "Key": counter_key(), "UpdateExpression": "ADD #n :one",
                    "ExpressionAttributeNames": {"#n": "S#new"}, "ExpressionAttributeValues": {":one": {"N": "1"}}}},
    ]
    if duplicate_key:
        return [*writes, {"ConditionCheck": {"TableName": table, "Key": counter_key(),
                                             "ConditionExpression": "attribute_exists(PK)"}}]
    check = {"ConditionCheck": {"TableName": table, "Key": {"PK": {"S": record_pk(ACCOUNT, "record_3")},
                                                            "SK": {"S": RECORD_SK}},
                                "ConditionExpression": "attribute_not_exists(PK)"}}
    return [check, *writes] if failing_check_first else [*writes, check]


# --- transactions -------------------------------------------------------------------------------------

def test_a_transaction_on_a_large_table_copies_only_the_items_it_touches(client, table, monkeypatch):
    # Given a table of 2,000 records
    put_records(client, table, 2000)
    copied: list[Item] = []
    item_deepcopy = Item.__deepcopy__

    def counting_deepcopy(self: Item, memo: dict[int, Any]) -> Item:
        copied.append(self)
        return item_deepcopy(self, memo)

    # When a transaction of four writes runs, counting every item copied (on its own or inside a table)
    monkeypatch.setattr(Item, "__deepcopy__", counting_deepcopy)
    client.transact_write_items(TransactItems=writes_of_one_transaction(table, failing_check_first=False)[:-1])
    monkeypatch.undo()

    # Then only the touched items were copied (the rollback snapshot, and moto's copy of each updated item)
    assert 0 < len(copied) <= 2 * 4
    assert {item.hash_key.value for item in copied} <= {
        record_pk(ACCOUNT, "record_1"), record_pk(ACCOUNT, "record_2"), counter_key()["PK"]["S"]}


@pytest.mark.parametrize("failing_check_first", [True, False])
def test_a_failed_transaction_leaves_the_table_and_its_stream_exactly_as_before(client, table, failing_check_first):
    # Given records (one of them making the condition check fail), a counter, and a stream already read
    put_records(client, table, 5)
    client.put_item(TableName=table, Item={**counter_key(), "S#new": {"N": "5"}})
    before = table_state(client, table)
    stream_before = stream_records(table)

    # When a transaction fails on its condition check
    with pytest.raises(ClientError) as error:
        client.transact_write_items(TransactItems=writes_of_one_transaction(table, failing_check_first))

    # Then items, index answers and stream are unchanged
    assert error.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert table_state(client, table) == before
    assert stream_records(table) == stream_before


def test_a_transaction_that_names_an_item_twice_leaves_the_table_as_before(client, table):
    put_records(client, table, 5)
    client.put_item(TableName=table, Item={**counter_key(), "S#new": {"N": "5"}})
    before = table_state(client, table)
    stream_before = stream_records(table)

    with pytest.raises(ClientError) as error:
        client.transact_write_items(TransactItems=writes_of_one_transaction(table, False, duplicate_key=True))

    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert table_state(client, table) == before
    assert stream_records(table) == stream_before


def test_a_successful_transaction_applies_every_write(client, table):
    put_records(client, table, 5)
    client.put_item(TableName=table, Item={**counter_key(), "S#new": {"N": "5"}})
    stream_before = stream_records(table)

    client.transact_write_items(TransactItems=writes_of_one_transaction(table, failing_check_first=False)[:-1])

    state = table_state(client, table)
    titles = {item["PK"]["S"]: item.get("title", {}).get("S") for item in state["items"]}
    assert titles[record_pk(ACCOUNT, "record_new")] == "Newcomer"
    assert titles[record_pk(ACCOUNT, "record_1")] == "Moved"
    assert record_pk(ACCOUNT, "record_2") not in titles
    assert {item["PK"]["S"] for item in state["list"]} == {
        record_pk(ACCOUNT, n) for n in ("record_0", "record_3", "record_4", "record_new")}
    counter = client.get_item(TableName=table, Key=counter_key())["Item"]
    assert counter["S#new"] == {"N": "6"}
    assert [r["eventName"] for r in stream_records(table)[len(stream_before):]] == [
        "INSERT", "MODIFY", "REMOVE", "MODIFY"]


def test_a_query_on_a_large_table_sorts_only_what_it_can_match(client, table, monkeypatch):
    # Given 2,000 records and one partition of three items
    put_records(client, table, 2000)
    partition = record_pk(ACCOUNT, "record_7")
    for sk in ("ASSIGN#user_2", "ASSIGN#user_1"):
        client.put_item(TableName=table, Item={"PK": {"S": partition}, "SK": {"S": sk}})
    comparisons = []
    less_than = DynamoType.__lt__

    def counting_less_than(self: DynamoType, other: DynamoType) -> bool:
        comparisons.append(self)
        return less_than(self, other)

    # When the partition is queried
    monkeypatch.setattr(DynamoType, "__lt__", counting_less_than)
    items = client.query(TableName=table, KeyConditionExpression="PK = :pk",
                         ExpressionAttributeValues={":pk": {"S": partition}})["Items"]
    monkeypatch.undo()

    # Then only its items were sorted, and the answer is in key order
    assert [item["SK"]["S"] for item in items] == ["ASSIGN#user_1", "ASSIGN#user_2", RECORD_SK]
    assert len(comparisons) < 20


def test_an_index_query_pages_through_every_match_in_index_order(client, table):
    put_records(client, table, 300)
    client.put_item(TableName=table, Item=record_item("record_other", "Elsewhere", kanban="kanban_2"))
    pages, start = [], {}
    while True:
        page = client.query(TableName=table, IndexName="GSI1", KeyConditionExpression="GSI1PK = :pk",
                            ExpressionAttributeValues={":pk": {"S": f"{ACCOUNT}#kanban_1"}}, Limit=40,
                            ScanIndexForward=False, **start)
        pages.append([item["CREATED"]["S"] for item in page["Items"]])
        if "LastEvaluatedKey" not in page:
            break
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    assert [len(page) for page in pages] == [40] * 7 + [20]
    assert sum(pages, []) == sorted((f"1700000000000#record_{n}" for n in range(300)), reverse=True)


def test_index_pages_answer_exactly_as_moto_does(client, table, monkeypatch):
    # Given records of two kanbans, written out of index order
    for n in (7, 3, 11, 0, 5, 9, 1, 12, 4, 8, 2, 10, 6):
        client.put_item(TableName=table, Item=record_item(f"record_{n:02d}", f"Lead {n}", kanban=f"kanban_{n % 2}"))

    def every_page(limit: int | None, forward: bool, **extra: Any) -> list[dict[str, Any]]:
        pages, start = [], {}
        while True:
            page = client.query(TableName=table, IndexName="GSI1", KeyConditionExpression="GSI1PK = :pk",
                                ExpressionAttributeValues={":pk": {"S": f"{ACCOUNT}#kanban_1"}},
                                ScanIndexForward=forward, **({"Limit": limit} if limit else {}), **start, **extra)
            pages.append({k: v for k, v in page.items() if k != "ResponseMetadata"})
            if "LastEvaluatedKey" not in page:
                return pages
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    shapes = [(limit, forward, extra) for limit in (None, 1, 2, 6, 7) for forward in (True, False)
              for extra in ({}, {"Select": "COUNT"})]

    def answers() -> tuple[list, list]:
        """Every shape of query as the patch answers it, and as moto answers it itself."""
        patched = [every_page(limit, forward, **extra) for limit, forward, extra in shapes]
        with monkeypatch.context() as unpatched:
            unpatched.setattr(moto_patch, "_index_page", lambda table, arguments: None)
            return patched, [every_page(limit, forward, **extra) for limit, forward, extra in shapes]

    # When the patch answers, and when moto answers the same queries itself
    patched, by_moto = answers()

    # Then every page, its items, their order and where the next page starts are the same
    assert patched == by_moto
    assert [item["CREATED"]["S"] for page in patched[0] for item in page["Items"]] == [
        f"1700000000000#record_{n:02d}" for n in (1, 3, 5, 7, 9, 11)]

    # And so they stay after every kind of write: new, replaced, moved by an update, deleted, and a
    # transaction that fails after changing an item
    client.put_item(TableName=table, Item=record_item("record_13", "Lead 13", kanban="kanban_1"))
    client.put_item(TableName=table, Item=record_item("record_03", "Lead 3 again", kanban="kanban_0"))
    def key(record_id: str) -> dict[str, Any]:
        return {"PK": {"S": record_pk(ACCOUNT, record_id)}, "SK": {"S": RECORD_SK}}

    client.update_item(TableName=table, Key=key("record_04"), UpdateExpression="SET GSI1PK = :k",
                       ExpressionAttributeValues={":k": {"S": f"{ACCOUNT}#kanban_1"}})
    client.delete_item(TableName=table, Key=key("record_09"))
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": record_item("record_05", "Moved", kanban="kanban_0")}},
            {"ConditionCheck": {"TableName": table, "Key": counter_key(),
                                "ConditionExpression": "attribute_exists(PK)"}},
        ])
    patched, by_moto = answers()
    assert patched == by_moto
    assert [item["CREATED"]["S"] for page in patched[0] for item in page["Items"]] == [
        f"1700000000000#record_{n:02d}" for n in (1, 4, 5, 7, 11, 13)]


def test_an_index_query_copies_only_its_page(client, table, monkeypatch):
    put_records(client, table, 2000)
    copies = []
    item_copy = Item.__deepcopy__

    def counting_copy(self: Item, memo: dict[int, Any]) -> Item:
        copies.append(self)
        return item_copy(self, memo)

    monkeypatch.setattr(Item, "__deepcopy__", counting_copy)
    page = client.query(TableName=table, IndexName="GSI1", KeyConditionExpression="GSI1PK = :pk",
                        ExpressionAttributeValues={":pk": {"S": f"{ACCOUNT}#kanban_1"}}, Limit=20,
                        ScanIndexForward=False)
    monkeypatch.undo()

    assert len(page["Items"]) == 20 and "LastEvaluatedKey" in page
    assert len(copies) == 20


def test_superseded_item_versions_and_consumed_stream_records_are_freed(client, table):
    # Given one record written 200 times, and the stream consumed and trimmed
    for version in range(200):
        client.put_item(TableName=table, Item=record_item("record_1", f"Version {version}"))
    poller_for(table, Indexer(), trim=True).drain()
    gc.collect()

    # Then only the current version of the item is alive (moto's model tracking would keep all 200)
    alive = [o for o in gc.get_objects() if isinstance(o, Item) and o.hash_key.value == record_pk(ACCOUNT, "record_1")]
    assert [item.attrs["title"].value for item in alive] == ["Version 199"]
    assert stream_records(table) == []


def test_the_patch_refuses_moto_internals_it_does_not_know(monkeypatch):
    from moto.dynamodb.models.table import StreamShard

    monkeypatch.setattr(StreamShard, "get", lambda self, start, quantity: [])
    with pytest.raises(moto_patch.MotoInternalsChanged, match="reads records by position"):
        moto_patch.check_internals()


# --- the stream poller --------------------------------------------------------------------------------

class Indexer:
    """Stands in for the indexer function: keeps the changes it accepted, and fails one change once."""

    def __init__(self, fail_once_on: str | None = None):
        self.events: list[dict[str, Any]] = []
        self.accepted: list[tuple[str, str, str | None]] = []
        self._fail_once_on = fail_once_on

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        for record in event["Records"]:
            change = record["dynamodb"]
            if change["Keys"]["PK"]["S"] == self._fail_once_on:
                self._fail_once_on = None
                return {"batchItemFailures": [{"itemIdentifier": change["SequenceNumber"]}]}
            title = change.get("NewImage", {}).get("title", {}).get("S")
            self.accepted.append((record["eventName"], change["Keys"]["PK"]["S"], title))
        return {"batchItemFailures": []}


def poller_for(table: str, indexer: Indexer, trim: bool) -> StreamPoller:
    arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    on_consumed = (lambda shard_id, sequence: moto_patch.trim_stream(arn, shard_id, sequence)) if trim else None
    return StreamPoller(boto3.client("dynamodbstreams"), arn, indexer, on_consumed)


def write_changes(client, table: str, first: int, count: int) -> list[tuple[str, str, str | None]]:
    """Record inserts, updates and deletes interleaved with counter changes; returns the record changes."""
    expected = []
    for n in range(first, first + count):
        pk = record_pk(ACCOUNT, f"record_{n}")
        client.put_item(TableName=table, Item=record_item(f"record_{n}", f"Lead {n}"))
        expected.append(("INSERT", pk, f"Lead {n}"))
        client.update_item(TableName=table, Key=counter_key(), UpdateExpression="ADD #n :one",
                           ExpressionAttributeNames={"#n": "S#new"}, ExpressionAttributeValues={":one": {"N": "1"}})
        if n % 3 == 0:
            client.put_item(TableName=table, Item=record_item(f"record_{n}", f"Lead {n} renamed"))
            expected.append(("MODIFY", pk, f"Lead {n} renamed"))
        if n % 5 == 0:
            client.delete_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": RECORD_SK}})
            expected.append(("REMOVE", pk, None))
    return expected


@pytest.mark.parametrize("trim", [True, False], ids=["trimmed", "untrimmed"])
def test_the_poller_delivers_every_record_change_once_in_order(client, table, trim):
    # Given an indexer that fails one change once, and 150 records' changes (more than one batch)
    indexer = Indexer(fail_once_on=record_pk(ACCOUNT, "record_40"))
    poller = poller_for(table, indexer, trim)
    expected = write_changes(client, table, 0, 150)

    # When the poller runs until the failed change has been retried and the stream is drained
    with pytest.raises(RuntimeError, match="failed 1 of"):
        poller.drain()
    kept_after_failure = stream_records(table)
    poller.drain()
    # ... and more changes follow
    expected += write_changes(client, table, 150, 20)
    poller.drain()

    # Then every change arrived exactly once, in order, and the stream kept only what was not yet consumed
    assert indexer.accepted == expected
    if trim:
        assert kept_after_failure[0]["dynamodb"]["Keys"]["PK"]["S"] == record_pk(ACCOUNT, "record_40")
        assert stream_records(table) == []
    else:
        assert len(stream_records(table)) > len(expected)


def test_the_poller_never_invokes_the_indexer_with_other_changes(client, table):
    # Given counters, rate-limit counters and records written
    rate_pk, rate_sk = rate_counter_key(ACCOUNT, 480000)
    for n in range(30):
        client.put_item(TableName=table, Item={"PK": {"S": rate_pk}, "SK": {"S": rate_sk}, "hour": {"N": str(n)}})
    expected = write_changes(client, table, 0, 10)
    indexer = Indexer()

    # When the poller drains the stream
    poller_for(table, indexer, trim=True).drain()

    # Then the indexer saw only record items, all of them
    changes = [record["dynamodb"]["Keys"] for event in indexer.events for record in event["Records"]]
    assert changes and all(keys["SK"]["S"] == "RECORD" and keys["PK"]["S"].startswith("RECORD#") for keys in changes)
    assert indexer.accepted == expected
    assert stream_records(table) == []
