"""API Gateway usage plans: the only code that talks to API Gateway.

Each account gets one API key in the stack's usage plan; the authorizer hands that key to API Gateway
(`usageIdentifierKey`), which applies the plan's per-second throttle and daily quota per account.
"""

from typing import Any

from shared.settings import get_settings


def _client() -> Any:
    import boto3

    return boto3.client("apigateway", region_name=get_settings().aws_region)


def create_account_key(account_id: str, usage_plan_id: str) -> str:
    """Create the account's API key, add it to the usage plan and return the key's value."""
    client = _client()
    key = client.create_api_key(name=f"crm-{account_id}", enabled=True, customerId=account_id,
                                description=f"Usage-plan key of CRM account {account_id}")
    client.create_usage_plan_key(usagePlanId=usage_plan_id, keyId=key["id"], keyType="API_KEY")
    return key["value"]
