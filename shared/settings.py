"""Configuration of every function, read once from the environment into one model."""

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Settings(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    table_name: str = Field(alias="TABLE_NAME")
    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")
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
    # Requests per account, for accounts without limits of their own (`crm-admin limits set`).
    rate_limit_per_minute: int = Field(default=120, alias="RATE_LIMIT_PER_MINUTE", ge=1)
    rate_limit_per_hour: int = Field(default=3000, alias="RATE_LIMIT_PER_HOUR", ge=1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
