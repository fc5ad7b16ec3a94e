"""Webhooks of an account (admin only): /webhooks, /webhooks/{webhookId}, its deliveries, retries, pings."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from shared.http import Limit, NextToken, build_app, current_principal
from shared.logic import webhooks
from shared.models.api import (
    CreatedWebhookResponse,
    CreateWebhookRequest,
    DeletedWebhookResponse,
    DeliveryPage,
    DeliveryResponse,
    UpdateWebhookRequest,
    WebhookPage,
    WebhookResponse,
)

app = build_app()
logger = Logger(service="webhooks")


@app.get("/webhooks")
def list_webhooks(limit: Limit = 20, nextToken: NextToken = None) -> WebhookPage:
    return webhooks.list_webhooks(current_principal(app), limit, nextToken)


@app.post("/webhooks")
def create_webhook(body: CreateWebhookRequest) -> CreatedWebhookResponse:
    return webhooks.create_webhook(current_principal(app), body)


@app.get("/webhooks/<webhookId>")
def get_webhook(webhookId: str) -> WebhookResponse:
    return webhooks.get_webhook(current_principal(app), webhookId)


@app.put("/webhooks/<webhookId>")
def update_webhook(webhookId: str, body: UpdateWebhookRequest) -> WebhookResponse:
    return webhooks.update_webhook(current_principal(app), webhookId, body)


@app.delete("/webhooks/<webhookId>")
def delete_webhook(webhookId: str) -> DeletedWebhookResponse:
    return {"webhook": webhooks.delete_webhook(current_principal(app), webhookId)}


@app.get("/webhooks/<webhookId>/deliveries")
def list_deliveries(webhookId: str, limit: Limit = 20, nextToken: NextToken = None) -> DeliveryPage:
    return webhooks.list_deliveries(current_principal(app), webhookId, limit, nextToken)


@app.post("/webhooks/<webhookId>/deliveries/<deliveryId>/retry")
def retry_delivery(webhookId: str, deliveryId: str) -> DeliveryResponse:
    return webhooks.retry_delivery(current_principal(app), webhookId, deliveryId)


@app.post("/webhooks/<webhookId>/test")
def test_webhook(webhookId: str) -> DeliveryResponse:
    return webhooks.send_test(current_principal(app), webhookId)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return app.resolve(event, context)
