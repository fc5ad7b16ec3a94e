"""The single table's definition (keys, indexes, stream) and the lazily created DynamoDB client.

The tests, the local stack and the CDK app all build the table from TABLE_DEFINITION, so their keys
and indexes cannot drift apart.
"""

from functools import lru_cache
from typing import Any

from shared import request_budget
from shared.repository import retries
from shared.repository.retries import StorageUnavailable
from shared.settings import get_settings

PK, SK = "PK", "SK"
# Four overloaded list indexes share one sort key ("CREATED": creation time + id, newest first when
# read backwards); which partition a list reads is decided in keys.list_scope().
LIST_INDEXES = ("GSI1", "GSI2", "GSI3", "GSI4")
LIST_SORT_KEY = "CREATED"
FIELD_VALUE_INDEX = "FieldValueIndex"
FIELD_VALUE_PK, FIELD_VALUE_SK = "FVPK", "FVSK"
TTL_ATTRIBUTE = "expiresAt"
# Indexes carry the ids needed to fetch the full items from the table (strongly consistent) and the
# kanban, so access rules can filter entries before any item is read.
LIST_INDEX_PROJECTION = ("recordId", "kanbanId")


def _index(name: str, hash_key: str, range_key: str, projection: dict[str, Any]) -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        "Projection": projection,
    }


TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"}
        for name in (PK, SK, *(f"{i}PK" for i in LIST_INDEXES), LIST_SORT_KEY, FIELD_VALUE_PK, FIELD_VALUE_SK)
    ],
    "KeySchema": [{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
    "GlobalSecondaryIndexes": [
        *(
            _index(i, f"{i}PK", LIST_SORT_KEY,
                   {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(LIST_INDEX_PROJECTION)})
            for i in LIST_INDEXES
        ),
        _index(FIELD_VALUE_INDEX, FIELD_VALUE_PK, FIELD_VALUE_SK,
               {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(LIST_INDEX_PROJECTION)}),
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
}


def create_table(client: Any, table_name: str) -> None:
    """Create the table from TABLE_DEFINITION (tests and the local stack; the CDK app deploys it)."""
    client.create_table(TableName=table_name, **TABLE_DEFINITION)
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


# The table of Idempotency-Key records (Powertools' idempotency utility; see shared.idempotency): one
# item per key, on Powertools' default attribute names, removed by TTL once it has expired.
IDEMPOTENCY_KEY = "id"
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"
IDEMPOTENCY_TABLE_DEFINITION: dict[str, Any] = {
    "AttributeDefinitions": [{"AttributeName": IDEMPOTENCY_KEY, "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": IDEMPOTENCY_KEY, "KeyType": "HASH"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def create_idempotency_table(client: Any, table_name: str) -> None:
    """Create the idempotency table (tests and the local stack; the CDK app deploys it)."""
    client.create_table(TableName=table_name, **IDEMPOTENCY_TABLE_DEFINITION)
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": IDEMPOTENCY_TTL_ATTRIBUTE},
    )


# Tight enough that a request's last call ends inside the functions' timeout (see request_budget).
# One attempt here: shared.repository.retries decides every resend, so retries never nest.
_CLIENT_CONFIG = {"connect_timeout": 1, "read_timeout": 2, "retries": {"total_max_attempts": 1, "mode": "standard"}}


def _refuse_when_budget_spent(**_: Any) -> None:
    if request_budget.spent():
        raise StorageUnavailable("the database is not answering in time; retry shortly")


def _as_unavailable(exception: Exception, **_: Any) -> None:
    from botocore.exceptions import ConnectionError, HTTPClientError

    if isinstance(exception, ConnectionError | HTTPClientError):
        raise StorageUnavailable("the database is not answering in time; retry shortly") from exception


@lru_cache(maxsize=1)
def dynamodb_client() -> Any:
    """The process's DynamoDB client, built on first use and reused by warm invocations. Every attempt
    honours the request's budget, failed attempts are resent only as shared.repository.retries says,
    and timeouts or unreachable endpoints that outlast it become StorageUnavailable."""
    return _client(within_budget=True)


@lru_cache(maxsize=1)
def bookkeeping_client() -> Any:
    """The same client for a write that must still happen once the request's budget is spent: the
    answer an Idempotency-Key keeps (the functions' timeout leaves 4 s past the 6 s budget for it).
    Without it, a write that ended near the deadline would run again on the key's next retry."""
    return _client(within_budget=False)


def _client(*, within_budget: bool) -> Any:
    import boto3
    from botocore.config import Config

    settings = get_settings()
    credentials: dict[str, str] = {}
    if settings.dynamodb_endpoint_url and boto3.Session().get_credentials() is None:
        # A local table (moto's server) takes any credentials, and an operator may have none set.
        credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    client = boto3.client(
        "dynamodb", region_name=settings.aws_region, endpoint_url=settings.dynamodb_endpoint_url,
        config=Config(**_CLIENT_CONFIG), **credentials,
    )
    if within_budget:
        client.meta.events.register("before-send.dynamodb", _refuse_when_budget_spent)
    client.meta.events.register("after-call-error.dynamodb", _as_unavailable)
    retries.install(client)
    return client
