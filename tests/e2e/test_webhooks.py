"""Webhooks on the real local stack (`make run`): a ping reaches a receiver on 127.0.0.1 within a
second, signed as the README says to verify it, and a failing receiver is retried through the local
SQS queue and recorded in the deliveries."""

import hashlib
import hmac
import json
import time

import pytest

from tests.e2e.conftest import eventually
from tests.webhook_receiver import Receiver


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The receiver's check, as the README gives it."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def _create(stack, url: str) -> dict:
    created = stack.request("POST", "/webhooks", body={"url": url, "events": ["record.created"]})
    assert created.status == 201, created.body
    return created.json()


def test_a_ping_arrives_signed_within_a_second(stack, receiver):
    webhook = _create(stack, receiver.url + "/hook")

    started = time.time()
    answered = stack.request("POST", f"/webhooks/{webhook['webhookId']}/test")
    [ping] = receiver.wait_for(1, timeout=5)
    latency = ping.at - started

    print(f"\nping latency: {latency * 1000:.0f} ms")
    assert answered.status == 202, answered.body
    assert latency < 1.0
    assert verify(webhook["secret"], ping.headers["X-CRM-Signature"], ping.body)
    assert not verify("whsec_other", ping.headers["X-CRM-Signature"], ping.body)
    body = json.loads(ping.body)
    assert (body["type"], body["id"], body["accountId"]) == ("ping", answered.json()["eventId"],
                                                            stack.demo["accountId"])
    assert ping.headers["X-CRM-Event-Id"] == body["id"]


def test_a_failing_receiver_is_retried_and_the_deliveries_say_so(stack, receiver):
    receiver.answer(500, 200)
    webhook = _create(stack, receiver.url + "/flaky")
    path = f"/webhooks/{webhook['webhookId']}/deliveries"

    stack.request("POST", f"/webhooks/{webhook['webhookId']}/test")
    first = eventually(lambda: [d for d in stack.request("GET", path).json()["items"] if d["attempts"] == 1
                                and d["status"] == "pending" and d["lastStatusCode"]], timeout=5)
    requests = receiver.wait_for(2, timeout=10)
    done = eventually(lambda: [d for d in stack.request("GET", path).json()["items"] if d["status"] == "succeeded"],
                      timeout=5)

    assert first and first[0]["lastStatusCode"] == 500 and first[0]["nextAttemptAt"] is not None
    assert len(requests) == 2 and requests[0].headers["X-CRM-Event-Id"] == requests[1].headers["X-CRM-Event-Id"]
    assert done and (done[0]["attempts"], done[0]["lastStatusCode"], done[0]["nextAttemptAt"]) == (2, 200, None)


def test_a_write_is_delivered_signed_within_a_second(stack, receiver):
    created = stack.request("POST", "/webhooks", body={
        "url": receiver.url + "/changes", "events": ["record.created", "record.status_changed"]})
    assert created.status == 201, created.body
    webhook = created.json()

    started = time.time()
    record = stack.request("POST", "/crm/records", body={"title": "Webhook lead"}).json()
    [delivered] = receiver.wait_for(1, timeout=5)
    latency = delivered.at - started
    stack.request("PUT", f"/crm/records/{record['recordId']}", body={"status": "contacted"})
    moved = receiver.wait_for(2, timeout=5)[1]

    print(f"\nwrite-to-webhook latency: {latency * 1000:.0f} ms")
    assert latency < 1.0
    assert verify(webhook["secret"], delivered.headers["X-CRM-Signature"], delivered.body)
    body = json.loads(delivered.body)
    assert (body["type"], body["accountId"], body["id"]) == (
        "record.created", stack.demo["accountId"], f"evt_{record['recordId']}_1_created")
    assert body["data"]["record"] == record and body["data"]["changes"]["title"] == {"from": None,
                                                                                     "to": "Webhook lead"}
    moved_body = json.loads(moved.body)
    assert moved_body["type"] == "record.status_changed"
    assert moved_body["data"]["changes"]["status"] == {"from": "new", "to": "contacted"}
    assert moved_body["data"]["record"]["status"] == "contacted"
