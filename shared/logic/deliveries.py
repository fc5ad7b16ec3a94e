"""The delivery worker's handling of one queued attempt.

A delivery is an HTTP POST of the event's JSON body, signed (shared.webhooks.signing), to an address
the SSRF guard checked just before (shared.webhooks.targets). Any 2xx within 10 s is a success; any
other outcome is retried with exponential backoff and jitter until the delivery is 24 h old, then it
is failed. 100 deliveries failed in a row deactivate the webhook. Each attempt is one SQS message; a
delivery's item says which attempt is next, so a duplicate or stale message changes nothing.
"""

import random
from typing import Any

from shared.ids import now_ms
from shared.logic.webhooks import attempt_message
from shared.models.domain import Delivery, Webhook
from shared.repository import delivery_queue
from shared.repository import webhooks as store
from shared.settings import get_settings
from shared.webhooks import sender, signing, targets

# Deliveries failed in a row (each after all its retries) that deactivate a webhook.
DEACTIVATE_AFTER_FAILURES = 100
# A claimed attempt that recorded nothing for this long was cut short (the worker died); the queue's
# redelivery of its message may make it again.
ABANDONED_CLAIM_MS = 120_000
# A message due within this much is sent now rather than delayed again (SQS delays by whole seconds,
# rounded up, so a message arrives at its due time or after).
DUE_SLACK_MS = 250


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """The pause after failed attempt number `attempt` (1, 2, ...): base doubled per attempt, capped,
    with "equal jitter" (between half of it and all of it), so failing receivers are not hit in step."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def process_message(message: dict[str, Any], now: int | None = None) -> str:
    """Make the attempt one queue message asks for; returns what happened (for logs and tests).
    Raises only when storage or the queue fail, so that the message is received again."""
    at = now if now is not None else now_ms()
    due = int(message["dueAt"])
    if due - at > DUE_SLACK_MS:
        delivery_queue.send([(message, (due - at + 999) // 1000)])
        return "delayed"
    account_id, webhook_id = str(message["accountId"]), str(message["webhookId"])
    delivery = store.find_delivery(account_id, webhook_id, str(message["deliveryId"]))
    if delivery is None or delivery.status != "pending":
        return "stale"
    attempt = int(message["attempt"])
    abandoned = (delivery.attempts == attempt + 1 and delivery.next_attempt_at is not None
                 and delivery.next_attempt_at <= delivery.updated_at and at - delivery.updated_at > ABANDONED_CLAIM_MS)
    if delivery.attempts != attempt and not abandoned:
        return "stale"
    if not store.claim_attempt(delivery, at):
        return "stale"
    delivery = delivery.model_copy(update={"attempts": delivery.attempts + 1, "updated_at": at})
    webhook = store.find_webhook(account_id, webhook_id)
    if webhook is None or not (webhook.active or message.get("manual")):
        reason = "the webhook was deleted" if webhook is None else "the webhook is inactive"
        store.finish_attempt(delivery, status="failed", status_code=None, error=reason, next_attempt_at=None,
                             at_ms=at)
        return "dropped"
    outcome = _attempt(webhook, delivery)
    at = now if now is not None else now_ms()
    if outcome.succeeded:
        store.finish_attempt(delivery, status="succeeded", status_code=outcome.status_code, error=None,
                             next_attempt_at=None, at_ms=at)
        store.record_success(account_id, webhook_id)
        return "succeeded"
    settings = get_settings()
    pause_ms = int(1000 * backoff_seconds(delivery.attempts, settings.webhook_retry_base_seconds,
                                          settings.webhook_retry_max_seconds))
    next_at = at + pause_ms
    if next_at > delivery.deadline:
        store.finish_attempt(delivery, status="failed", status_code=outcome.status_code, error=outcome.error,
                             next_attempt_at=None, at_ms=at)
        store.record_failure(account_id, webhook_id, DEACTIVATE_AFTER_FAILURES, at)
        return "failed"
    # The next message first: if recording the outcome fails, this message comes again and finds the
    # attempt claimed, and the next one still arrives.
    delivery_queue.send([(attempt_message(delivery, delivery.attempts, next_at), (pause_ms + 999) // 1000)])
    store.finish_attempt(delivery, status="pending", status_code=outcome.status_code, error=outcome.error,
                         next_attempt_at=next_at, at_ms=at)
    return "retrying"


def _attempt(webhook: Webhook, delivery: Delivery) -> sender.Outcome:
    """One signed POST to the webhook's URL, its host resolved and checked again right now."""
    try:
        checked = targets.check(webhook.url, allow_local=get_settings().webhooks_allow_local_http)
    except targets.UnsafeTarget as refused:
        return sender.Outcome(None, f"refused: {refused.message.removeprefix('url: ')}")
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        signing.EVENT_ID_HEADER: delivery.event_id,
        signing.SIGNATURE_HEADER: signing.signature(webhook.secret, now_ms() // 1000, body),
    }
    return sender.post(checked, body, headers)

