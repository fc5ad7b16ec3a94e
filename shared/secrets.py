"""Secrets given directly in the settings (local stack, tests) or fetched once from Secrets Manager."""

from functools import lru_cache

from pydantic import SecretStr

from shared.settings import get_settings


@lru_cache(maxsize=8)
def _secret_string(arn: str) -> str:
    import boto3

    client = boto3.client("secretsmanager", region_name=get_settings().aws_region)
    return client.get_secret_value(SecretId=arn)["SecretString"]


def resolve(direct: SecretStr | None, arn: str | None) -> str | None:
    """The secret's value, given directly or read from Secrets Manager; None when neither is set."""
    if direct is not None:
        return direct.get_secret_value()
    return _secret_string(arn) if arn else None


def pagination_key() -> bytes:
    settings = get_settings()
    key = resolve(settings.pagination_secret, settings.pagination_secret_arn)
    if key is None:
        raise RuntimeError("PAGINATION_SECRET or PAGINATION_SECRET_ARN must be set")
    return key.encode()
