"""Settings every test level shares: a test table name, fake AWS credentials, no real AWS."""

import pytest

from shared.repository.delivery_queue import sqs_client
from shared.repository.idempotency import idempotency_store
from shared.repository.table import dynamodb_client
from shared.settings import get_settings

TEST_ENVIRONMENT = {
    "TABLE_NAME": "crm-test",
    "IDEMPOTENCY_TABLE_NAME": "crm-test-idempotency",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "PAGINATION_SECRET": "test-pagination-secret-0123456789",
    "POWERTOOLS_LOG_LEVEL": "CRITICAL",
    # moto answers on the regional endpoints, not the account-based ones newer SDKs pick.
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


@pytest.fixture(autouse=True)
def test_environment(monkeypatch):
    for name, value in TEST_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for name in ("DYNAMODB_ENDPOINT_URL", "SQS_ENDPOINT_URL", "WEBHOOK_QUEUE_URL", "WEBHOOKS_ALLOW_LOCAL_HTTP"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    dynamodb_client.cache_clear()
    idempotency_store.cache_clear()
    sqs_client.cache_clear()
    yield
    get_settings.cache_clear()
    dynamodb_client.cache_clear()
    idempotency_store.cache_clear()
    sqs_client.cache_clear()
