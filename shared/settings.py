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
    # Key that signs pagination tokens so a client cannot forge or edit one.
    pagination_secret: SecretStr | None = Field(default=None, alias="PAGINATION_SECRET", min_length=16)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
