"""Secrets given directly in the settings (local stack, tests) or fetched once from Secrets Manager."""

import json
from functools import lru_cache

from pydantic import SecretStr

from shared.settings import get_settings


@lru_cache(maxsize=8)
def _secret_string(arn: str) -> str:
    import boto3

    client = boto3.client("secretsmanager", region_name=get_settings().aws_region)
    return client.get_secret_value(SecretId=arn)["SecretString"]


def resolve(direct: SecretStr | None, arn: str | None, json_key: str | None = None) -> str:
    """The secret's value; with json_key, that key of a JSON secret."""
    if direct is not None:
        return direct.get_secret_value()
    if arn is None:
        raise RuntimeError("a required secret is not configured")
    value = _secret_string(arn)
    return json.loads(value)[json_key] if json_key else value


def pagination_key() -> bytes:
    settings = get_settings()
    return resolve(settings.pagination_secret, settings.pagination_secret_arn).encode()
