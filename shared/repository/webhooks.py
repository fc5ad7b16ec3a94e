"""Webhooks (one partition per account) and their deliveries (one partition per webhook, newest first,
each with the lock that keeps one delivery per event id)."""

import zlib
from typing import Any

from shared.errors import Conflict, NotFound
from shared.models.domain import Delivery, Page, Webhook
from shared.repository import dynamo, keys
from shared.repository.table import TTL_ATTRIBUTE


class _EventAlreadyDelivered(Conflict):
    """The webhook already has a delivery for this event id."""


# Deliveries (and their event-id locks) are kept this long, then removed by TTL.
DELIVERY_RETENTION_SECONDS = 30 * 24 * 3600
# Event bodies larger than this are stored compressed: an event carries a record and its changes, and
# a delivery item (like any item) holds at most 400 KB.
COMPRESS_BODY_BYTES = 16 * 1024
# Webhooks an account may have: enqueue reads them all for every event.
MAX_WEBHOOKS_PER_ACCOUNT = 50


def _webhook(item: dict[str, Any]) -> Webhook:
    return Webhook(
        webhook_id=item["webhookId"], account_id=item["accountId"], url=item["url"], events=tuple(item["events"]),
        kanban_id=item.get("kanbanId"), description=item.get("description", ""), active=item["active"],
        created_at=item["createdAt"], updated_at=item["updatedAt"], secret=item["secret"],
        consecutive_failures=item.get("consecutiveFailures", 0),
    )


def _webhook_item(webhook: Webhook) -> dict[str, Any]:
    return {
        "PK": keys.webhooks_pk(webhook.account_id), "SK": keys.webhook_sk(webhook.webhook_id),
        "webhookId": webhook.webhook_id, "accountId": webhook.account_id, "url": webhook.url,
        "events": list(webhook.events), "kanbanId": webhook.kanban_id, "description": webhook.description,
        "active": webhook.active, "createdAt": webhook.created_at, "updatedAt": webhook.updated_at,
        "secret": webhook.secret, "consecutiveFailures": webhook.consecutive_failures,
    }


def _delivery(item: dict[str, Any]) -> Delivery:
    return Delivery(
        delivery_id=item["deliveryId"], webhook_id=item["webhookId"], account_id=item["accountId"],
        event_id=item["eventId"], type=item["type"], status=item["status"], attempts=item["attempts"],
        last_status_code=item.get("lastStatusCode"), last_error=item.get("lastError"),
        next_attempt_at=item.get("nextAttemptAt"), created_at=item["createdAt"], updated_at=item["updatedAt"],
        deadline=item["deadline"], body=_body_of(item),
    )


def _body_of(item: dict[str, Any]) -> str:
    if "bodyZ" in item:
        packed = item["bodyZ"]
        return zlib.decompress(getattr(packed, "value", packed)).decode()
    return item["body"]


def _body_attributes(body: str) -> dict[str, Any]:
    encoded = body.encode()
    return {"bodyZ": zlib.compress(encoded, 6)} if len(encoded) > COMPRESS_BODY_BYTES else {"body": body}


def _expires_at(created_at_ms: int) -> int:
    return created_at_ms // 1000 + DELIVERY_RETENTION_SECONDS


# --- webhooks ----------------------------------------------------------------------------------------

def create_webhook(webhook: Webhook) -> None:
    dynamo.transact([dynamo.Write(dynamo.put(_webhook_item(webhook), "attribute_not_exists(PK)"),
                                  Conflict("webhook id collision"))])


def replace_webhook(webhook: Webhook, *, expected_updated_at: int) -> None:
    """Write a changed webhook, only over the version it was read at (a concurrent change is a 409)."""
    dynamo.transact([dynamo.Write(
        dynamo.put(_webhook_item(webhook), "attribute_exists(PK) AND updatedAt = :seen",
                   values={":seen": expected_updated_at}),
        Conflict(f"webhook {webhook.webhook_id} was changed meanwhile; read it again and retry"),
    )])


def find_webhook(account_id: str, webhook_id: str) -> Webhook | None:
    item = dynamo.get(keys.webhooks_pk(account_id), keys.webhook_sk(webhook_id))
    return _webhook(item) if item else None


def get_webhook(account_id: str, webhook_id: str) -> Webhook:
    webhook = find_webhook(account_id, webhook_id)
    if webhook is None:
        raise NotFound(f"webhook {webhook_id} not found")
    return webhook


def delete_webhook(account_id: str, webhook_id: str) -> None:
    """Its deliveries stay until their TTL; the worker drops any still queued."""
    dynamo.transact([dynamo.Write(
        dynamo.delete(keys.webhooks_pk(account_id), keys.webhook_sk(webhook_id), "attribute_exists(PK)"),
        NotFound(f"webhook {webhook_id} not found"),
    )])


def list_webhooks(account_id: str, limit: int, cursor: dict[str, Any] | None) -> Page:
    items, last = dynamo.query(partition=keys.webhooks_pk(account_id), sort_prefix=keys.WEBHOOK_PREFIX,
                               limit=limit, start_key=cursor)
    return Page(items=tuple(_webhook(i) for i in items), cursor=last)


def all_webhooks(account_id: str) -> list[Webhook]:
    """Every webhook of an account (at most MAX_WEBHOOKS_PER_ACCOUNT): one Query."""
    return [_webhook(i) for i in dynamo.query_all(keys.webhooks_pk(account_id), keys.WEBHOOK_PREFIX)]


def record_success(account_id: str, webhook_id: str) -> None:
    """A delivery succeeded: the webhook's failures in a row start again from zero (a write only when
    there were any, so successes do not all write the webhook's item)."""
    dynamo.update_item(keys.webhooks_pk(account_id), keys.webhook_sk(webhook_id), "SET consecutiveFailures = :zero",
                       "attribute_exists(PK) AND consecutiveFailures > :zero", values={":zero": 0})


def record_failure(account_id: str, webhook_id: str, deactivate_at: int, at_ms: int) -> bool:
    """A delivery failed for good: count it, and deactivate the webhook at `deactivate_at` failures in a
    row. Returns whether this failure deactivated it."""
    pk, sk = keys.webhooks_pk(account_id), keys.webhook_sk(webhook_id)
    item = dynamo.update_item(pk, sk, "ADD consecutiveFailures :one", "attribute_exists(PK)", values={":one": 1})
    if item is None:
        return False  # deleted meanwhile
    webhook = _webhook(item)
    if not webhook.active or webhook.consecutive_failures < deactivate_at:
        return False
    return dynamo.update_item(
        pk, sk, "SET active = :off, updatedAt = :now", "attribute_exists(PK) AND active = :on",
        values={":off": False, ":on": True, ":now": max(at_ms, webhook.updated_at + 1)},
    ) is not None


# --- deliveries --------------------------------------------------------------------------------------

def create_delivery(delivery: Delivery) -> str | None:
    """Store a new pending delivery unless the webhook already has one for this event id. Returns None
    when stored, else the delivery id that event already has."""
    pk = keys.deliveries_pk(delivery.account_id, delivery.webhook_id)
    expires_at = _expires_at(delivery.created_at)
    lock = {"PK": pk, "SK": keys.delivery_event_sk(delivery.event_id), "deliveryId": delivery.delivery_id,
            TTL_ATTRIBUTE: expires_at}
    item = {
        "PK": pk, "SK": keys.delivery_sk(delivery.delivery_id), "deliveryId": delivery.delivery_id,
        "webhookId": delivery.webhook_id, "accountId": delivery.account_id, "eventId": delivery.event_id,
        "type": delivery.type, "status": delivery.status, "attempts": delivery.attempts,
        "nextAttemptAt": delivery.next_attempt_at, "createdAt": delivery.created_at,
        "updatedAt": delivery.updated_at, "deadline": delivery.deadline, **_body_attributes(delivery.body),
        TTL_ATTRIBUTE: expires_at,
    }
    try:
        dynamo.transact([
            dynamo.Write(dynamo.put(lock, "attribute_not_exists(PK)"),
                         _EventAlreadyDelivered("event already delivered")),
            dynamo.Write(dynamo.put(item, "attribute_not_exists(PK)"), Conflict("delivery id collision")),
        ])
    except _EventAlreadyDelivered:
        existing = dynamo.get(pk, keys.delivery_event_sk(delivery.event_id))
        return existing["deliveryId"] if existing else delivery.delivery_id
    return None


def find_delivery(account_id: str, webhook_id: str, delivery_id: str) -> Delivery | None:
    item = dynamo.get(keys.deliveries_pk(account_id, webhook_id), keys.delivery_sk(delivery_id))
    return _delivery(item) if item else None


def get_delivery(account_id: str, webhook_id: str, delivery_id: str) -> Delivery:
    delivery = find_delivery(account_id, webhook_id, delivery_id)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} not found")
    return delivery


def list_deliveries(account_id: str, webhook_id: str, limit: int, cursor: dict[str, Any] | None) -> Page:
    items, last = dynamo.query(partition=keys.deliveries_pk(account_id, webhook_id),
                               sort_prefix=keys.DELIVERY_PREFIX, limit=limit, start_key=cursor, newest_first=True)
    return Page(items=tuple(_delivery(i) for i in items), cursor=last)


def claim_attempt(delivery: Delivery, at_ms: int) -> bool:
    """Take the delivery's next attempt: only one worker may make attempt number attempts + 1 of a
    pending delivery (a stale or duplicate queue message finds it taken)."""
    return _update_delivery(
        delivery, "SET attempts = :next, updatedAt = :now",
        "#s = :pending AND attempts = :seen",
        {":next": delivery.attempts + 1, ":now": at_ms, ":pending": "pending", ":seen": delivery.attempts},
    )


def finish_attempt(delivery: Delivery, *, status: str, status_code: int | None, error: str | None,
                   next_attempt_at: int | None, at_ms: int) -> bool:
    """Record the outcome of the attempt `delivery.attempts` (the one claimed)."""
    sets = ["#s = :status", "updatedAt = :now"]
    removes = []
    values: dict[str, Any] = {":status": status, ":now": at_ms, ":seen": delivery.attempts}
    for attribute, value in (("lastStatusCode", status_code), ("lastError", error),
                             ("nextAttemptAt", next_attempt_at)):
        if value is None:
            removes.append(attribute)
        else:
            sets.append(f"{attribute} = :{attribute}")
            values[f":{attribute}"] = value
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return _update_delivery(delivery, expression, "attempts = :seen", values)


def reopen_delivery(delivery: Delivery, at_ms: int) -> bool:
    """Make a delivery pending again, due now (a manual retry), if nobody changed it since it was read."""
    return _update_delivery(
        delivery, "SET #s = :pending, nextAttemptAt = :now, updatedAt = :now",
        "attempts = :seen AND updatedAt = :read",
        {":pending": "pending", ":now": at_ms, ":seen": delivery.attempts, ":read": delivery.updated_at},
    )


def _update_delivery(delivery: Delivery, expression: str, condition: str, values: dict[str, Any]) -> bool:
    return dynamo.update_item(
        keys.deliveries_pk(delivery.account_id, delivery.webhook_id), keys.delivery_sk(delivery.delivery_id),
        expression, f"attribute_exists(PK) AND {condition}", names={"#s": "status"}, values=values,
    ) is not None
