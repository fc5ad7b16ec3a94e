"""Configuration of every function, read once from the environment into one model.

Operator tools that take their settings as arguments (`crm-admin`) build a Settings object and install
it with `use_settings`, rather than writing the environment.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Settings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    table_name: str = Field(alias="TABLE_NAME")
    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")
    # The table of Idempotency-Key records (shared.idempotency); set for every API function.
    idempotency_table_name: str | None = Field(default=None, alias="IDEMPOTENCY_TABLE_NAME")
    # Set only for a local table (moto server); deployed functions use the regional endpoint.
    dynamodb_endpoint_url: str | None = Field(default=None, alias="DYNAMODB_ENDPOINT_URL")
    # Key that signs pagination tokens so a client cannot forge or edit one: given directly (local
    # stack, tests) or as a Secrets Manager secret (deployed).
    pagination_secret: SecretStr | None = Field(default=None, alias="PAGINATION_SECRET", min_length=16)
    pagination_secret_arn: str | None = Field(default=None, alias="PAGINATION_SECRET_ARN")
    # Typesense: comma-separated node URLs, the alias that search reads and indexing writes, and two
    # keys, each given directly (local stack, tests) or as a Secrets Manager secret (deployed): the
    # admin key (indexing, rebuilds) and a search-only key (the parent of the scoped search keys).
    typesense_nodes: str = Field(default="http://127.0.0.1:8108", alias="TYPESENSE_NODES")
    typesense_collection: str = Field(default="crm-records", alias="TYPESENSE_COLLECTION")
    typesense_api_key: SecretStr | None = Field(default=None, alias="TYPESENSE_API_KEY")
    typesense_api_key_secret_arn: str | None = Field(default=None, alias="TYPESENSE_API_KEY_SECRET_ARN")
    typesense_search_key: SecretStr | None = Field(default=None, alias="TYPESENSE_SEARCH_KEY")
    typesense_search_key_secret_arn: str | None = Field(default=None, alias="TYPESENSE_SEARCH_KEY_SECRET_ARN")
    # The custom EventBridge bus every record change is put on (the events function); its endpoint is set
    # only for a local bus (moto's server), deployed functions use the regional one.
    event_bus_name: str | None = Field(default=None, alias="EVENT_BUS_NAME")
    events_endpoint_url: str | None = Field(default=None, alias="EVENTS_ENDPOINT_URL")
    # Requests per account, for accounts without limits of their own (`crm-admin limits set`).
    rate_limit_per_minute: int = Field(default=120, alias="RATE_LIMIT_PER_MINUTE", ge=1)
    rate_limit_per_hour: int = Field(default=3000, alias="RATE_LIMIT_PER_HOUR", ge=1)
    # Webhooks: the SQS queue of deliveries (the API function and the delivery worker send to it), an
    # endpoint for a local queue (moto server), and whether targets may be plain http on a loopback
    # address (the local stack only; deployed stacks refuse them).
    webhook_queue_url: str | None = Field(default=None, alias="WEBHOOK_QUEUE_URL")
    sqs_endpoint_url: str | None = Field(default=None, alias="SQS_ENDPOINT_URL")
    webhooks_allow_local_http: bool = Field(default=False, alias="WEBHOOKS_ALLOW_LOCAL_HTTP")
    # The first retry's delay (doubling each attempt, capped at the maximum) and how long a delivery is
    # retried before it is failed.
    webhook_retry_base_seconds: float = Field(default=30, alias="WEBHOOK_RETRY_BASE_SECONDS", ge=0)
    webhook_retry_max_seconds: float = Field(default=7200, alias="WEBHOOK_RETRY_MAX_SECONDS", ge=0)
    webhook_retry_window_seconds: float = Field(default=86400, alias="WEBHOOK_RETRY_WINDOW_SECONDS", ge=0)


# Settings installed by use_settings; None: read the environment.
_installed: Settings | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings: the installed ones if any, else the environment's."""
    return _installed if _installed is not None else Settings.model_validate(dict(os.environ))


def from_environment(**fields: Any) -> Settings:
    """The environment's settings with the given fields (by field name) in place of its values; the
    environment is only read."""
    given = {Settings.model_fields[name].alias or name: value for name, value in fields.items()}
    return Settings.model_validate(dict(os.environ) | given)


def use_settings(settings: Settings | None) -> None:
    """Make get_settings() return `settings` from now on (None: the environment's again). Clients
    built from earlier settings (such as the DynamoDB client) are the caller's to drop."""
    global _installed
    _installed = settings
    get_settings.cache_clear()


@contextmanager
def settings_in_use(settings: Settings) -> Iterator[Settings]:
    """use_settings(settings) for the block, then whatever was in use before."""
    previous = _installed
    use_settings(settings)
    try:
        yield settings
    finally:
        use_settings(previous)
