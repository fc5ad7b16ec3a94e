"""The field-value index: what is written to the table with each record, and kept in step with it."""

import boto3

from shared.repository import keys
from shared.repository.table import FIELD_VALUE_INDEX, FIELD_VALUE_PK


def lookup(account_id: str, field_id: str, normalized: str) -> list[str]:
    """Record ids whose field has this normalized value, read from the index the way lookups will."""
    response = boto3.client("dynamodb").query(
        TableName="crm-test", IndexName=FIELD_VALUE_INDEX,
        KeyConditionExpression="#k = :v", ExpressionAttributeNames={"#k": FIELD_VALUE_PK},
        ExpressionAttributeValues={":v": {"S": keys.field_value_key(account_id, field_id, normalized)}},
    )
    return [item["recordId"]["S"] for item in response["Items"]]


def test_indexed_values_are_written_normalized_and_follow_updates_and_deletes(api, account, board):
    f = board["f"]
    record = api.post("/crm/records", {"title": "x", "customFields": {
        f["email"]: " Jane@Example.COM ", f["phone"]: "+1 (234) 567-890", f["multiselect"]: ["CRM", "Search"],
        f["number"]: 5, f["textarea"]: "not indexed",
    }}, query={"kanbanId": board["id"]}).json()
    rid, acc = record["recordId"], account["accountId"]

    assert lookup(acc, f["email"], "jane@example.com") == [rid]
    assert lookup(acc, f["phone"], "+1234567890") == [rid]
    assert lookup(acc, f["multiselect"], "crm") == lookup(acc, f["multiselect"], "search") == [rid]
    assert lookup(acc, f["number"], "5") == [] and lookup(acc, f["textarea"], "not indexed") == []

    api.put(f"/crm/records/{rid}", {"customFields": {f["email"]: "new@example.com", f["multiselect"]: ["CRM"]}})
    assert lookup(acc, f["email"], "jane@example.com") == []
    assert lookup(acc, f["email"], "new@example.com") == [rid]
    assert lookup(acc, f["multiselect"], "search") == [] and lookup(acc, f["multiselect"], "crm") == [rid]

    api.delete(f"/crm/records/{rid}")
    assert lookup(acc, f["email"], "new@example.com") == [] and lookup(acc, f["phone"], "+1234567890") == []

    def leftovers() -> list[dict]:
        return boto3.client("dynamodb").query(
            TableName="crm-test", KeyConditionExpression="PK = :p",
            ExpressionAttributeValues={":p": {"S": keys.record_pk(acc, rid)}},
        )["Items"]

    # Only the trash item is left in the record's partition, and it is in no field-value index partition.
    assert [(i["SK"]["S"], FIELD_VALUE_PK in i) for i in leftovers()] == [(keys.TRASH_SK, False)]
    api.post(f"/crm/records/{rid}/restore")
    assert lookup(acc, f["email"], "new@example.com") == [rid] and lookup(acc, f["multiselect"], "crm") == [rid]
    api.delete(f"/crm/records/{rid}", query={"permanent": "true"})
    assert lookup(acc, f["email"], "new@example.com") == [] and leftovers() == []


def test_values_are_isolated_per_account(api, account, board):
    f = board["f"]
    api.post("/crm/records", {"title": "x", "customFields": {f["email"]: "a@b.co"}}, query={"kanbanId": board["id"]})
    assert lookup("account_other", f["email"], "a@b.co") == []
