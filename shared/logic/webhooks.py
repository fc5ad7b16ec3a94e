"""Webhooks: their administration (admins only) and the entry point that turns a change event into
deliveries, each queued as its first attempt's message (shared.logic.deliveries makes the attempts).
"""

import json
from collections.abc import Sequence
from typing import Any

from shared import settings as settings_module
from shared.errors import Conflict, NotFound
from shared.ids import new_id, now_ms
from shared.logic import access, events
from shared.logic.kanbans import refuse_read_only_changes
from shared.models.api import CreateWebhookRequest, UpdateWebhookRequest, WebhookResponse, read_only_changes
from shared.models.domain import (
    PING_EVENT_TYPE,
    CreatedWebhook,
    Delivery,
    Listing,
    Principal,
    RecordChange,
    Webhook,
)
from shared.pagination import decode_token, encode_token
from shared.repository import delivery_queue, kanbans
from shared.repository import webhooks as store
from shared.webhooks import signing, targets


def _settings() -> settings_module.Settings:
    return settings_module.get_settings()


def _check_url(url: str) -> str:
    targets.check(url, allow_local=_settings().webhooks_allow_local_http)
    return url.strip()


def _check_kanban(account_id: str, kanban_id: str | None) -> str | None:
    if kanban_id is not None and kanbans.find_kanban(account_id, kanban_id) is None:
        raise NotFound(f"kanban {kanban_id} not found")
    return kanban_id


# --- administration ---------------------------------------------------------------------------------

def create_webhook(principal: Principal, request: CreateWebhookRequest) -> CreatedWebhook:
    access.require_admin(principal)
    kanban_id = _check_kanban(principal.account_id, request.kanbanId)
    url = _check_url(request.url)
    if len(store.all_webhooks(principal.account_id)) >= store.MAX_WEBHOOKS_PER_ACCOUNT:
        raise Conflict(f"the account has {store.MAX_WEBHOOKS_PER_ACCOUNT} webhooks, the most it may have; "
                       "delete one first")
    created_at = now_ms()
    webhook = CreatedWebhook(
        webhook_id=new_id("webhook", created_at), account_id=principal.account_id, url=url,
        events=tuple(dict.fromkeys(request.events)), kanban_id=kanban_id, description=request.description,
        active=True, created_at=created_at, updated_at=created_at, secret=signing.new_secret(),
    )
    store.create_webhook(webhook)
    return webhook


def get_webhook(principal: Principal, webhook_id: str) -> Webhook:
    access.require_admin(principal)
    return store.get_webhook(principal.account_id, webhook_id)


def list_webhooks(principal: Principal, limit: int, next_token: str | None) -> Listing:
    access.require_admin(principal)
    scope = f"webhooks|{principal.account_id}"
    page = store.list_webhooks(principal.account_id, limit, decode_token(next_token, scope))
    return Listing(items=page.items, next_token=encode_token(page.cursor, scope))


def update_webhook(principal: Principal, webhook_id: str, request: UpdateWebhookRequest) -> Webhook:
    """Also takes back a webhook as GET answered it: its read-only values must be the current ones.
    Reactivating (active: true on an inactive webhook) starts its failure count from zero."""
    access.require_admin(principal)
    webhook = store.get_webhook(principal.account_id, webhook_id)
    refuse_read_only_changes(read_only_changes(request, WebhookResponse.model_validate(webhook).model_dump()))
    changes: dict[str, Any] = {"updated_at": max(now_ms(), webhook.updated_at + 1)}
    if request.url is not None:
        changes["url"] = _check_url(request.url)
    if request.events is not None:
        changes["events"] = tuple(dict.fromkeys(request.events))
    if "kanbanId" in request.model_fields_set:
        changes["kanban_id"] = _check_kanban(principal.account_id, request.kanbanId)
    if request.description is not None:
        changes["description"] = request.description
    if request.active is not None:
        changes["active"] = request.active
        if request.active and not webhook.active:
            changes["consecutive_failures"] = 0
    updated = webhook.model_copy(update=changes)
    store.replace_webhook(updated, expected_updated_at=webhook.updated_at)
    return updated


def delete_webhook(principal: Principal, webhook_id: str) -> Webhook:
    access.require_admin(principal)
    webhook = store.get_webhook(principal.account_id, webhook_id)
    store.delete_webhook(principal.account_id, webhook_id)
    return webhook


def list_deliveries(principal: Principal, webhook_id: str, limit: int, next_token: str | None) -> Listing:
    access.require_admin(principal)
    store.get_webhook(principal.account_id, webhook_id)
    scope = f"deliveries|{principal.account_id}|{webhook_id}"
    page = store.list_deliveries(principal.account_id, webhook_id, limit, decode_token(next_token, scope))
    return Listing(items=page.items, next_token=encode_token(page.cursor, scope))


def retry_delivery(principal: Principal, webhook_id: str, delivery_id: str) -> Delivery:
    """Send a delivery again now, whatever its status: it becomes pending and its next attempt is
    queued at once. If that attempt fails, retries go on while the delivery is within its 24 hours."""
    access.require_admin(principal)
    store.get_webhook(principal.account_id, webhook_id)
    delivery = store.get_delivery(principal.account_id, webhook_id, delivery_id)
    at = max(now_ms(), delivery.updated_at + 1)
    if not store.reopen_delivery(delivery, at):
        raise Conflict(f"delivery {delivery_id} is being attempted right now; try again in a few seconds")
    delivery_queue.send([(attempt_message(delivery, delivery.attempts, at, manual=True), 0)])
    return delivery.model_copy(update={"status": "pending", "next_attempt_at": at, "updated_at": at})


def send_test(principal: Principal, webhook_id: str) -> Delivery:
    """Queue a ping event to the webhook (active or not) and answer its delivery."""
    access.require_admin(principal)
    webhook = store.get_webhook(principal.account_id, webhook_id)
    at = now_ms()
    event = {"id": new_id("evt", at), "type": PING_EVENT_TYPE, "createdAt": at, "accountId": webhook.account_id,
             "data": {"webhookId": webhook.webhook_id}}
    delivery = _new_delivery(webhook, event, at)
    store.create_delivery(delivery)
    delivery_queue.send([(attempt_message(delivery, 0, at, manual=True), 0)])
    return delivery


# --- change events -> deliveries -------------------------------------------------------------------

_EVENT_KEYS = ("id", "type", "createdAt", "accountId", "data")


def enqueue(account_id: str, kanban_id: str | None, event: dict[str, Any],
            webhooks: Sequence[Webhook] | None = None) -> list[str]:
    """Deliver one change event to every active webhook of the account that subscribes to its type
    (and to its kanban, for a webhook limited to one). `event` is the body receivers get:
    {"id", "type", "createdAt", "accountId", "data": {"record", "changes"}}.

    Idempotent per (webhook, event id): calling it again with the same event (a stream retry) creates
    no second delivery; a delivery not yet attempted has its message sent again (at least once).
    Returns the ids of the deliveries the event has. `webhooks`: the account's webhooks, if read already."""
    missing = [k for k in _EVENT_KEYS if k not in event]
    if missing:
        raise ValueError(f"the event lacks {', '.join(missing)}")
    if event["accountId"] != account_id:
        raise ValueError("the event belongs to another account")
    at = now_ms()
    messages: list[tuple[dict[str, Any], int]] = []
    delivery_ids: list[str] = []
    for webhook in store.all_webhooks(account_id) if webhooks is None else webhooks:
        if not webhook.wants(str(event["type"]), kanban_id):
            continue
        delivery = _new_delivery(webhook, event, at)
        existing_id = store.create_delivery(delivery)
        if existing_id is None:
            messages.append((attempt_message(delivery, 0, at), 0))
            delivery_ids.append(delivery.delivery_id)
            continue
        delivery_ids.append(existing_id)
        existing = store.find_delivery(account_id, webhook.webhook_id, existing_id)
        if existing is not None and existing.status == "pending" and existing.attempts == 0:
            messages.append((attempt_message(existing, 0, at), 0))
    delivery_queue.send(messages)
    return delivery_ids


class WebhookPublisher:
    """Record changes to the account's webhooks: each change's events (record.<action>, and
    record.status_changed) become deliveries, in order (a ChangePublisher of shared.logic.events)."""

    def publish(self, changes: Sequence[RecordChange]) -> None:
        webhooks: dict[str, list[Webhook]] = {}  # per account, read once per batch
        for position, change in enumerate(changes):
            try:
                if change.account_id not in webhooks:
                    webhooks[change.account_id] = store.all_webhooks(change.account_id)
                for event_type in events.event_types(change):
                    enqueue(change.account_id, change.kanban_id, {
                        "id": events.event_id(change, event_type), "type": event_type, "createdAt": change.at,
                        "accountId": change.account_id,
                        "data": {"record": events.event_record(change), "changes": change.changes},
                    }, webhooks[change.account_id])
            except Exception as error:
                raise events.PublishFailed(
                    f"the webhook deliveries of change {position} were not queued: {error}", position
                ) from error


def _new_delivery(webhook: Webhook, event: dict[str, Any], at: int) -> Delivery:
    return Delivery(
        delivery_id=new_id("delivery", at), webhook_id=webhook.webhook_id, account_id=webhook.account_id,
        event_id=str(event["id"]), type=str(event["type"]), status="pending", attempts=0, last_status_code=None,
        last_error=None, next_attempt_at=at, created_at=at, updated_at=at,
        deadline=at + int(_settings().webhook_retry_window_seconds * 1000),
        body=json.dumps(event, separators=(",", ":"), ensure_ascii=False),
    )


def attempt_message(delivery: Delivery, attempt: int, due_at: int, *, manual: bool = False) -> dict[str, Any]:
    return {"accountId": delivery.account_id, "webhookId": delivery.webhook_id, "deliveryId": delivery.delivery_id,
            "attempt": attempt, "dueAt": due_at, **({"manual": True} if manual else {})}
