"""Clients of the AWS services beside DynamoDB (EventBridge, SQS): built on first use with bounded
timeouts and retries, reused by warm invocations. Pointed at an endpoint (the local stack's moto
server), they sign with placeholder credentials when none are configured."""

from typing import Any

from shared.settings import get_settings


def service_client(service: str, endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    credentials: dict[str, str] = {}
    if endpoint_url and boto3.Session().get_credentials() is None:
        credentials = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    return boto3.client(
        service, region_name=get_settings().aws_region, endpoint_url=endpoint_url,
        config=Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 3, "mode": "standard"}),
        **credentials,
    )
