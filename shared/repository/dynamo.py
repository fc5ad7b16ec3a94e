"""Low-level helpers shared by the repositories: item (de)serialization, transactions, batch reads."""

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from shared.errors import DomainError
from shared.repository import retries
from shared.repository.table import PK, SK, StorageUnavailable, dynamodb_client
from shared.settings import get_settings

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return {_from_dynamo(v) for v in value}
    return value


def serialize(data: dict[str, Any]) -> dict[str, Any]:
    """Plain Python -> DynamoDB typed attributes (floats become exact decimals; None is dropped)."""
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in data.items() if v is not None}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {PK: {"S": pk}, SK: {"S": sk}}


def table_name() -> str:
    return get_settings().table_name


@dataclass(frozen=True)
class Write:
    """One operation of a transaction and the domain error its failed condition means."""

    operation: dict[str, Any]
    on_condition_failure: DomainError | None = None
    on_refusal_by: Callable[[dict[str, Any]], DomainError] | None = None
    """The error its failed condition means, from the item as it stood (the write asks DynamoDB for it
    with ReturnValuesOnConditionCheckFailure=ALL_OLD); on_condition_failure if no item stood there."""

    def __post_init__(self) -> None:
        if self.on_refusal_by is not None:
            next(iter(self.operation.values()))["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"


def put(item: dict[str, Any], condition: str | None = None, **names_values: Any) -> dict[str, Any]:
    return {"Put": {"TableName": table_name(), "Item": serialize(item), **_condition(condition, **names_values)}}


def delete(pk: str, sk: str, condition: str | None = None, **names_values: Any) -> dict[str, Any]:
    return {"Delete": {"TableName": table_name(), "Key": key(pk, sk), **_condition(condition, **names_values)}}


def update(pk: str, sk: str, expression: str, condition: str | None = None, **names_values: Any) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table_name(),
            "Key": key(pk, sk),
            "UpdateExpression": expression,
            **_condition(condition, **names_values),
        }
    }


def condition_check(pk: str, sk: str, condition: str, **names_values: Any) -> dict[str, Any]:
    return {"ConditionCheck": {"TableName": table_name(), "Key": key(pk, sk), **_condition(condition, **names_values)}}


def _condition(
    condition: str | None, names: dict[str, str] | None = None, values: dict[str, Any] | None = None
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if condition:
        params["ConditionExpression"] = condition
    if names:
        params["ExpressionAttributeNames"] = names
    if values:
        params["ExpressionAttributeValues"] = serialize(values)
    return params


def transact(writes: Sequence[Write]) -> None:
    """Run writes atomically. A failed condition raises the error its write names. Conflicts with
    other transactions and throttling are resent by the client (shared.repository.retries), which
    raises TableContention or StorageUnavailable if they outlast its attempts."""
    try:
        dynamodb_client().transact_write_items(TransactItems=[w.operation for w in writes])
    except ClientError as error:
        if error.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        reasons = error.response.get("CancellationReasons") or []
        for write, reason in zip(writes, reasons, strict=False):
            if reason.get("Code") != "ConditionalCheckFailed":
                continue
            if write.on_refusal_by and reason.get("Item"):
                raise write.on_refusal_by(deserialize(reason["Item"])) from None
            if write.on_condition_failure:
                raise write.on_condition_failure from None
        raise


def get(pk: str, sk: str) -> dict[str, Any] | None:
    response = dynamodb_client().get_item(TableName=table_name(), Key=key(pk, sk), ConsistentRead=True)
    item = response.get("Item")
    return deserialize(item) if item else None


def batch_get(keys: Iterable[tuple[str, str]],
              attributes: Sequence[str] = ()) -> dict[tuple[str, str], dict[str, Any]]:
    """Strongly consistent reads of up to 100 items (only `attributes`, keys included, if given);
    returns what exists, keyed by (PK, SK). Keys DynamoDB leaves unprocessed (it was busy) are asked
    for again as shared.repository.retries allows, like any other resend."""
    pending = [key(pk, sk) for pk, sk in dict.fromkeys(keys)]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    client = dynamodb_client()
    request: dict[str, Any] = {"ConsistentRead": True}
    if attributes:
        names = {f"#a{i}": name for i, name in enumerate((PK, SK, *attributes))}
        request |= {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
    attempts = 0
    while pending:
        if attempts:
            delay = retries.delay_before_retry(attempts)
            if delay is None:
                raise StorageUnavailable(f"the database is busy (it left {len(pending)} keys unread); retry shortly")
            time.sleep(delay)
        attempts += 1
        response = client.batch_get_item(RequestItems={table_name(): {"Keys": pending, **request}})
        for item in response["Responses"].get(table_name(), []):
            data = deserialize(item)
            found[(data[PK], data[SK])] = data
        pending = response.get("UnprocessedKeys", {}).get(table_name(), {}).get("Keys", [])
    return found


def query(
    *,
    partition: str,
    index: str | None = None,
    partition_attribute: str = PK,
    sort_prefix: str | None = None,
    sort_after: str | None = None,
    limit: int | None = None,
    start_key: dict[str, Any] | None = None,
    newest_first: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One Query call: (items, LastEvaluatedKey as plain values, or None at the end). `sort_prefix`
    keeps the sort keys that begin with it, `sort_after` those greater than it."""
    params: dict[str, Any] = {
        "TableName": table_name(),
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": partition_attribute},
        "ExpressionAttributeValues": {":p": {"S": partition}},
        "ScanIndexForward": not newest_first,
    }
    if sort_prefix is not None:
        params["KeyConditionExpression"] += " AND begins_with(#s, :s)"
        params["ExpressionAttributeNames"]["#s"] = SK
        params["ExpressionAttributeValues"][":s"] = {"S": sort_prefix}
    elif sort_after is not None:
        params["KeyConditionExpression"] += " AND #s > :s"
        params["ExpressionAttributeNames"]["#s"] = SK
        params["ExpressionAttributeValues"][":s"] = {"S": sort_after}
    if index:
        params["IndexName"] = index
    else:
        params["ConsistentRead"] = True
    if limit:
        params["Limit"] = limit
    if start_key:
        params["ExclusiveStartKey"] = serialize(start_key)
    response = dynamodb_client().query(**params)
    last = response.get("LastEvaluatedKey")
    return [deserialize(i) for i in response.get("Items", [])], deserialize(last) if last else None


def count(*, index: str, partition_attribute: str, partition: str, start_key: dict[str, Any] | None = None,
          newest_first: bool = False, at_most: int | None = None) -> int:
    """How many items one index partition holds (a COUNT query: nothing but the number comes back),
    after `start_key` if given; with `at_most`, counting stops there (reading at most that many items)."""
    params: dict[str, Any] = {
        "TableName": table_name(),
        "IndexName": index,
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": partition_attribute},
        "ExpressionAttributeValues": {":p": {"S": partition}},
        "Select": "COUNT",
        "ScanIndexForward": not newest_first,
    }
    if start_key:
        params["ExclusiveStartKey"] = serialize(start_key)
    total = 0
    while at_most is None or total < at_most:
        if at_most is not None:
            params["Limit"] = at_most - total
        response = dynamodb_client().query(**params)
        total += response["Count"]
        if "LastEvaluatedKey" not in response:
            break
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return total


def query_all(partition: str, sort_prefix: str | None = None) -> list[dict[str, Any]]:
    """Every item of one table partition (small, bounded partitions only)."""
    items: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        page, start = query(partition=partition, sort_prefix=sort_prefix, start_key=start)
        items.extend(page)
        if start is None:
            return items


def update_item(pk: str, sk: str, expression: str, condition: str, *, names: dict[str, str] | None = None,
                values: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """One conditional UpdateItem: the item as it is after the update, or None when the condition failed."""
    params: dict[str, Any] = {
        "TableName": table_name(), "Key": key(pk, sk), "UpdateExpression": expression,
        "ReturnValues": "ALL_NEW", **_condition(condition, names, values),
    }
    try:
        response = dynamodb_client().update_item(**params)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return None
        raise
    return deserialize(response["Attributes"])
