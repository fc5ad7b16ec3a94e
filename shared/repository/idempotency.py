"""Where Idempotency-Key records are kept: Powertools' DynamoDB persistence layer on the idempotency
table, through the service's DynamoDB client for bookkeeping (its endpoint, timeouts and retries, but not
the request budget: a kept answer is written even when the request used its whole budget)."""

from functools import lru_cache

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from shared.repository.table import IDEMPOTENCY_KEY, IDEMPOTENCY_TTL_ATTRIBUTE, bookkeeping_client
from shared.settings import get_settings


@lru_cache(maxsize=1)
def idempotency_store() -> DynamoDBPersistenceLayer:
    """The process's persistence layer, built on first use and reused by warm invocations."""
    table_name = get_settings().idempotency_table_name
    if not table_name:
        raise RuntimeError("IDEMPOTENCY_TABLE_NAME is not set: requests with an Idempotency-Key need its table")
    return DynamoDBPersistenceLayer(
        table_name=table_name, key_attr=IDEMPOTENCY_KEY, expiry_attr=IDEMPOTENCY_TTL_ATTRIBUTE,
        boto3_client=bookkeeping_client(),
    )
