"""Webhooks through the real handlers: administration (admins only, secret shown once, SSRF guard),
deliveries from change events (signed, idempotent per event, filtered by type and kanban), retries
through SQS (moto) with backoff, failure, deactivation, manual retries, pings and the worker's own
failures."""

import json
import time

import boto3
import pytest

from shared.local.gateway import invoke_handler
from shared.local.queue_poller import QueuePoller, create_delivery_queues
from shared.logic import deliveries, webhooks
from shared.routes import DELIVERIES_HANDLER
from shared.settings import get_settings
from shared.webhooks import signing, targets
from tests.integration.conftest import create_member
from tests.webhook_receiver import Receiver

PUBLIC = {"hooks.example.com": ["93.184.216.34"], "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"],
          "internal.example.com": ["10.1.2.3"], "mixed.example.com": ["93.184.216.34", "127.0.0.1"],
          "metadata.example.com": ["169.254.169.254"]}


@pytest.fixture
def dns(monkeypatch):
    """The resolver at the guard's boundary: names map to what the test says."""
    names = dict(PUBLIC)

    def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise OSError("name does not resolve")
        return names[host]

    monkeypatch.setattr(targets, "resolve", resolve)
    return names


@pytest.fixture
def queue(table, monkeypatch):
    client = boto3.client("sqs")
    url, dlq = create_delivery_queues(client, "crm-test-deliveries", max_receive_count=2, visibility_timeout=1)
    monkeypatch.setenv("WEBHOOK_QUEUE_URL", url)
    get_settings.cache_clear()
    return {"client": client, "url": url, "dlq": dlq,
            "worker": QueuePoller(client, url, lambda event: invoke_handler(DELIVERIES_HANDLER, event))}


@pytest.fixture
def local_targets(monkeypatch):
    monkeypatch.setenv("WEBHOOKS_ALLOW_LOCAL_HTTP", "true")
    get_settings.cache_clear()


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


def _attributes(queue) -> dict[str, str]:
    return queue["client"].get_queue_attributes(QueueUrl=queue["url"], AttributeNames=["All"])["Attributes"]


def _event(account_id: str, record: dict, event_type: str = "record.created", event_id: str = "evt_1") -> dict:
    return {"id": event_id, "type": event_type, "createdAt": record["updatedAt"], "accountId": account_id,
            "data": {"record": record, "changes": {"title": {"old": None, "new": record["title"]}}}}


@pytest.fixture
def record(api, account):
    response = api.post("/crm/records", {"title": "Jane Smith - Website Inquiry", "status": "new"},
                        query={"kanbanId": account["kanbanId"]})
    assert response.status == 201, response.body
    return response.json()


# --- administration -----------------------------------------------------------------------------------

def test_an_admin_creates_a_webhook_and_sees_its_secret_only_once(api, account, dns, queue):
    created = api.post("/webhooks", {"url": "https://hooks.example.com/crm", "events": ["record.created"],
                                     "kanbanId": account["kanbanId"], "description": "Sales alerts"})

    assert created.status == 201, created.body
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    assert {k: body[k] for k in ("url", "events", "kanbanId", "description", "active")} == {
        "url": "https://hooks.example.com/crm", "events": ["record.created"], "kanbanId": account["kanbanId"],
        "description": "Sales alerts", "active": True}
    fetched = api.get(f"/webhooks/{body['webhookId']}").json()
    listed = api.get("/webhooks").json()
    assert "secret" not in fetched and fetched["webhookId"] == body["webhookId"]
    assert [w["webhookId"] for w in listed["items"]] == [body["webhookId"]] and "secret" not in listed["items"][0]
    assert listed["nextToken"] is None


def test_webhooks_are_listed_page_by_page(api, dns, queue):
    ids = [api.post("/webhooks", {"url": f"https://hooks.example.com/{i}", "events": ["record.updated"]})
           .json()["webhookId"] for i in range(3)]

    first = api.get("/webhooks", query={"limit": 2}).json()
    second = api.get("/webhooks", query={"limit": 2, "nextToken": first["nextToken"]}).json()

    assert [w["webhookId"] for w in first["items"] + second["items"]] == ids
    assert second["nextToken"] is None


def test_members_may_not_manage_webhooks(api, account, dns, queue):
    _, token = create_member(api, [account["kanbanId"]])
    member = api.as_token(token)

    assert member.get("/webhooks").status == 403
    assert member.post("/webhooks", {"url": "https://hooks.example.com/x", "events": ["record.created"]}).status == 403


@pytest.mark.parametrize(("body", "message"), [
    ({"url": "https://hooks.example.com/x", "events": ["record.exploded"]}, "events.0"),
    ({"url": "https://hooks.example.com/x", "events": []}, "events"),
    ({"url": "https://hooks.example.com/x"}, "events is required"),
    ({"url": "http://hooks.example.com/x", "events": ["record.created"]}, "must be an https URL"),
    ({"url": "https://internal.example.com/x", "events": ["record.created"]},
     "internal.example.com resolves to 10.1.2.3, a private address"),
    ({"url": "https://169.254.169.254/latest/meta-data", "events": ["record.created"]}, "link-local"),
    ({"url": "https://nowhere.example.com/x", "events": ["record.created"]}, "does not resolve"),
    ({"url": "https://hooks.example.com@10.0.0.1/x", "events": ["record.created"]}, "user info"),
])
def test_invalid_or_unsafe_webhooks_are_refused_with_a_400_that_says_why(api, dns, queue, body, message):
    response = api.post("/webhooks", body)

    assert response.status == 400, response.body
    assert message in response.json()["message"]
    assert api.get("/webhooks").json()["items"] == []


def test_a_kanban_of_another_account_or_none_is_a_404(api, dns, queue):
    response = api.post("/webhooks", {"url": "https://hooks.example.com/x", "events": ["record.created"],
                                      "kanbanId": "kanban_nope"})

    assert response.status == 404


def test_an_update_changes_what_it_sends_is_checked_again_and_keeps_read_only_values(api, dns, queue):
    webhook = api.post("/webhooks", {"url": "https://hooks.example.com/x", "events": ["record.created"]}).json()
    path = f"/webhooks/{webhook['webhookId']}"

    refused = api.put(path, {"url": "https://metadata.example.com/x"})
    read_only = api.put(path, {"createdAt": 1})
    updated = api.put(path, {"url": "https://v6.example.com/y", "events": ["record.deleted", "record.restored"],
                             "description": "v6"})
    echoed = api.put(path, {**updated.json(), "active": False})

    assert refused.status == 400 and "link-local" in refused.json()["message"]
    assert read_only.status == 400 and "createdAt" in read_only.json()["message"]
    assert updated.status == 200, updated.body
    assert {k: updated.json()[k] for k in ("url", "events", "description")} == {
        "url": "https://v6.example.com/y", "events": ["record.deleted", "record.restored"], "description": "v6"}
    assert echoed.status == 200 and echoed.json()["active"] is False and "secret" not in echoed.json()
    assert api.get(path).json()["active"] is False


def test_a_deleted_webhook_is_gone(api, dns, queue):
    webhook = api.post("/webhooks", {"url": "https://hooks.example.com/x", "events": ["record.created"]}).json()

    deleted = api.delete(f"/webhooks/{webhook['webhookId']}")

    assert deleted.status == 200 and deleted.json()["webhook"]["webhookId"] == webhook["webhookId"]
    assert api.get(f"/webhooks/{webhook['webhookId']}").status == 404
    assert api.delete(f"/webhooks/{webhook['webhookId']}").status == 404


# --- delivery ---------------------------------------------------------------------------------------

@pytest.fixture
def hook(api, queue, local_targets, receiver):
    def create(events=("record.created",), kanban_id=None, path="/hook"):
        body = {"url": receiver.url + path, "events": list(events)}
        if kanban_id:
            body["kanbanId"] = kanban_id
        response = api.post("/webhooks", body)
        assert response.status == 201, response.body
        return response.json()
    return create


def test_a_change_event_is_delivered_signed_to_each_subscribed_webhook(api, account, record, hook, queue, receiver):
    webhook = hook()
    event = _event(account["accountId"], record)

    webhooks.enqueue(account["accountId"], account["kanbanId"], event)
    queue["worker"].drain()

    [request] = receiver.wait_for(1)
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-CRM-Event-Id"] == "evt_1"
    assert json.loads(request.body) == event
    signature = request.headers["X-CRM-Signature"]
    assert signing.verify(webhook["secret"], signature, request.body, int(time.time()))
    assert not signing.verify(webhook["secret"], signature, request.body + b" ", int(time.time()))
    assert not signing.verify(webhook["secret"], signature, request.body, int(time.time()) + 301)
    [delivery] = api.get(f"/webhooks/{webhook['webhookId']}/deliveries").json()["items"]
    assert {k: delivery[k] for k in ("eventId", "type", "status", "attempts", "lastStatusCode", "nextAttemptAt")} == {
        "eventId": "evt_1", "type": "record.created", "status": "succeeded", "attempts": 1, "lastStatusCode": 200,
        "nextAttemptAt": None}


def test_a_large_event_is_delivered_byte_for_byte(api, account, record, hook, queue, receiver):
    webhook = hook()
    event = _event(account["accountId"], {**record, "customFields": {f"f{i}": "x" * 1000 for i in range(300)}})

    webhooks.enqueue(account["accountId"], None, event)
    queue["worker"].drain()

    [request] = receiver.wait_for(1)
    assert len(request.body) > 300_000 and json.loads(request.body) == event
    assert signing.verify(webhook["secret"], request.headers["X-CRM-Signature"], request.body, int(time.time()))


def test_the_same_event_twice_makes_one_delivery(api, account, record, hook, queue, receiver):
    webhook = hook()
    event = _event(account["accountId"], record)

    first = webhooks.enqueue(account["accountId"], account["kanbanId"], event)
    queue["worker"].drain()
    again = webhooks.enqueue(account["accountId"], account["kanbanId"], event)
    queue["worker"].drain()

    assert first == again and len(first) == 1
    assert len(receiver.wait_for(1)) == 1
    time.sleep(0.2)
    assert len(receiver.requests) == 1
    assert len(api.get(f"/webhooks/{webhook['webhookId']}/deliveries").json()["items"]) == 1


def test_only_webhooks_of_the_event_type_and_kanban_get_it(api, account, record, hook, queue, receiver):
    other_kanban = api.post("/kanbans", {"name": "Support"}).json()["id"]
    hook(events=["record.created"], path="/created")
    hook(events=["record.updated"], path="/updated")
    hook(events=["record.created"], kanban_id=account["kanbanId"], path="/this-kanban")
    hook(events=["record.created"], kanban_id=other_kanban, path="/other-kanban")
    inactive = hook(events=["record.created"], path="/inactive")
    api.put(f"/webhooks/{inactive['webhookId']}", {"active": False})

    webhooks.enqueue(account["accountId"], account["kanbanId"], _event(account["accountId"], record))
    queue["worker"].drain()

    receiver.wait_for(2)
    time.sleep(0.2)
    assert sorted(r.path for r in receiver.requests) == ["/created", "/this-kanban"]


def test_a_failing_receiver_is_retried_later_through_the_queue(api, account, record, hook, queue, receiver):
    webhook = hook()
    receiver.answer(500, 200)
    before = int(time.time() * 1000)

    webhooks.enqueue(account["accountId"], account["kanbanId"], _event(account["accountId"], record))
    queue["worker"].drain()

    [delivery] = api.get(f"/webhooks/{webhook['webhookId']}/deliveries").json()["items"]
    assert (delivery["status"], delivery["attempts"], delivery["lastStatusCode"]) == ("pending", 1, 500)
    assert delivery["lastError"] == "the receiver answered 500"
    # The first retry waits between half of and the whole base delay (30 s).
    assert before + 15_000 <= delivery["nextAttemptAt"] <= int(time.time() * 1000) + 30_000
    assert _attributes(queue)["ApproximateNumberOfMessagesDelayed"] == "1"
    assert len(receiver.requests) == 1


def test_a_retry_due_in_less_than_a_second_is_made_and_succeeds(api, account, record, hook, queue, receiver,
                                                                  monkeypatch):
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_SECONDS", "0")
    get_settings.cache_clear()
    webhook = hook()
    receiver.answer(500, 503, 200)

    webhooks.enqueue(account["accountId"], account["kanbanId"], _event(account["accountId"], record))
    queue["worker"].drain()

    assert len(receiver.wait_for(3)) == 3
    [delivery] = api.get(f"/webhooks/{webhook['webhookId']}/deliveries").json()["items"]
    assert (delivery["status"], delivery["attempts"], delivery["lastStatusCode"]) == ("succeeded", 3, 200)
    assert len({r.headers["X-CRM-Event-Id"] for r in receiver.requests}) == 1


def test_a_backoff_longer_than_sqs_allows_is_sent_back_with_the_longest_delay(api, account, hook, queue):
    webhook = hook()
    now = int(time.time() * 1000)
    message = {"accountId": account["accountId"], "webhookId": webhook["webhookId"], "deliveryId": "delivery_x",
               "attempt": 3, "dueAt": now + 2_000_000}

    outcome = deliveries.process_message(message, now=now)

    [sent] = queue["client"].receive_message(QueueUrl=queue["url"], WaitTimeSeconds=0).get("Messages", []) or [None]
    assert outcome == "delayed"
    assert sent is None  # still delayed: 900 s, SQS's maximum
    assert _attributes(queue)["ApproximateNumberOfMessagesDelayed"] == "1"


def test_after_the_retry_window_a_delivery_is_failed(api, account, record, hook, queue, receiver, monkeypatch):
    monkeypatch.setenv("WEBHOOK_RETRY_WINDOW_SECONDS", "0")
    get_settings.cache_clear()
    webhook = hook()
    receiver.answer(500)

    webhooks.enqueue(account["accountId"], account["kanbanId"], _event(account["accountId"], record))
    queue["worker"].drain()

    [delivery] = api.get(f"/webhooks/{webhook['webhookId']}/deliveries").json()["items"]
    assert (delivery["status"], delivery["attempts"], delivery["nextAttemptAt"]) == ("failed", 1, None)
    assert api.get(f"/webhooks/{webhook['webhookId']}").json()["consecutiveFailures"] == 1
    assert _attributes(queue)["ApproximateNumberOfMessagesDelayed"] == "0"


def test_100_deliveries_failed_in_a_row_deactivate_the_webhook_and_reactivation_resets(
        api, account, record, hook, queue, receiver, monkeypatch):
    monkeypatch.setenv("WEBHOOK_RETRY_WINDOW_SECONDS", "0")
    get_settings.cache_clear()
    webhook = hook()
    path = f"/webhooks/{webhook['webhookId']}"
    receiver.answer(500)

    for i in range(deliveries.DEACTIVATE_AFTER_FAILURES):
        webhooks.enqueue(account["accountId"], None, _event(account["accountId"], record, event_id=f"evt_{i}"))
    queue["worker"].drain()
    after = api.get(path).json()
    ignored = webhooks.enqueue(account["accountId"], None, _event(account["accountId"], record, event_id="evt_x"))
    reactivated = api.put(path, {"active": True}).json()

    assert len(receiver.requests) == 100
    assert (after["active"], after["consecutiveFailures"]) == (False, 100)
    assert ignored == []
    assert (reactivated["active"], reactivated["consecutiveFailures"]) == (True, 0)


def test_a_success_resets_the_failures_in_a_row(api, account, record, hook, queue, receiver, monkeypatch):
    monkeypatch.setenv("WEBHOOK_RETRY_WINDOW_SECONDS", "0")
    get_settings.cache_clear()
    webhook = hook()
    receiver.answer(500, 500, 204)

    for i in range(3):
        webhooks.enqueue(account["accountId"], None, _event(account["accountId"], record, event_id=f"evt_{i}"))
        queue["worker"].drain()
        failures = api.get(f"/webhooks/{webhook['webhookId']}").json()["consecutiveFailures"]
        assert failures == [1, 2, 0][i]


def test_a_failed_delivery_is_sent_again_on_request(api, account, record, hook, queue, receiver, monkeypatch):
    monkeypatch.setenv("WEBHOOK_RETRY_WINDOW_SECONDS", "0")
    get_settings.cache_clear()
    webhook = hook()
    receiver.answer(500, 200)
    webhooks.enqueue(account["accountId"], None, _event(account["accountId"], record))
    queue["worker"].drain()
    [failed] = api.get(f"/webhooks/{webhook['webhookId']}/deliveries").json()["items"]

    retried = api.post(f"/webhooks/{webhook['webhookId']}/deliveries/{failed['deliveryId']}/retry")
    queue["worker"].drain()

    assert failed["status"] == "failed"
    assert retried.status == 202 and retried.json()["status"] == "pending"
    [delivery] = api.get(f"/webhooks/{webhook['webhookId']}/deliveries").json()["items"]
    assert (delivery["status"], delivery["attempts"], delivery["lastStatusCode"]) == ("succeeded", 2, 200)
    assert [r.headers["X-CRM-Event-Id"] for r in receiver.wait_for(2)] == ["evt_1", "evt_1"]
    assert api.post(f"/webhooks/{webhook['webhookId']}/deliveries/delivery_1_nope/retry").status == 404


def test_a_test_sends_a_ping_even_to_an_inactive_webhook(api, hook, queue, receiver):
    webhook = hook()
    api.put(f"/webhooks/{webhook['webhookId']}", {"active": False})

    answered = api.post(f"/webhooks/{webhook['webhookId']}/test")
    queue["worker"].drain()

    assert answered.status == 202 and answered.json()["type"] == "ping"
    [request] = receiver.wait_for(1)
    ping = json.loads(request.body)
    assert ping["type"] == "ping" and ping["id"] == answered.json()["eventId"]
    assert ping["data"] == {"webhookId": webhook["webhookId"]}
    assert signing.verify(webhook["secret"], request.headers["X-CRM-Signature"], request.body, int(time.time()))


def test_deliveries_are_listed_newest_first_page_by_page(api, account, record, hook, queue, receiver):
    webhook = hook()
    for i in range(3):
        webhooks.enqueue(account["accountId"], None, _event(account["accountId"], record, event_id=f"evt_{i}"))
        time.sleep(0.002)

    first = api.get(f"/webhooks/{webhook['webhookId']}/deliveries", query={"limit": 2}).json()
    second = api.get(f"/webhooks/{webhook['webhookId']}/deliveries",
                     query={"limit": 2, "nextToken": first["nextToken"]}).json()

    assert [d["eventId"] for d in first["items"] + second["items"]] == ["evt_2", "evt_1", "evt_0"]
    assert all(d["status"] == "pending" and d["attempts"] == 0 for d in first["items"])


def test_redirects_are_not_followed(api, account, record, hook, queue, receiver):
    webhook = hook(path="/moved")
    receiver.redirect_to = receiver.url + "/elsewhere"
    receiver.answer(302)

    webhooks.enqueue(account["accountId"], None, _event(account["accountId"], record))
    queue["worker"].drain()

    time.sleep(0.2)
    assert [r.path for r in receiver.requests] == ["/moved"]
    [delivery] = api.get(f"/webhooks/{webhook['webhookId']}/deliveries").json()["items"]
    assert (delivery["status"], delivery["lastStatusCode"]) == ("pending", 302)


def test_a_host_that_resolves_to_a_private_address_at_delivery_time_is_not_contacted(
        api, account, record, dns, queue):
    webhook = api.post("/webhooks", {"url": "https://hooks.example.com/x", "events": ["record.created"]}).json()
    dns["hooks.example.com"] = ["10.0.0.7"]

    webhooks.enqueue(account["accountId"], None, _event(account["accountId"], record))
    queue["worker"].drain()

    [delivery] = api.get(f"/webhooks/{webhook['webhookId']}/deliveries").json()["items"]
    assert (delivery["status"], delivery["lastStatusCode"]) == ("pending", None)
    assert delivery["lastError"] == "refused: hooks.example.com resolves to 10.0.0.7, a private address; " \
                                    "webhooks may only target public addresses"


def test_a_message_the_worker_cannot_handle_is_reported_and_ends_in_the_dead_letter_queue(queue):
    queue["client"].send_message(QueueUrl=queue["url"], MessageBody="not json")

    for _ in range(3):
        queue["worker"].drain()
        time.sleep(1.1)  # the visibility timeout
    queue["worker"].drain()

    dead = queue["client"].receive_message(QueueUrl=queue["dlq"], WaitTimeSeconds=0).get("Messages", [])
    assert [m["Body"] for m in dead] == ["not json"]


def test_the_worker_reports_only_the_failed_messages_of_a_batch(api, account, hook, queue, receiver):
    webhook = hook()
    ping = api.post(f"/webhooks/{webhook['webhookId']}/test")
    assert ping.status == 202
    messages = queue["client"].receive_message(QueueUrl=queue["url"], MaxNumberOfMessages=10).get("Messages", [])
    from shared.local.queue_poller import lambda_record, queue_arn
    records = [lambda_record(m, queue_arn(queue["url"])) for m in messages]
    broken = {**records[0], "messageId": "broken", "body": "{}"}

    response = invoke_handler(DELIVERIES_HANDLER, {"Records": [*records, broken]})

    assert response == {"batchItemFailures": [{"itemIdentifier": "broken"}]}
    assert len(receiver.wait_for(1)) == 1


def test_an_attempt_cut_short_is_made_again_by_its_redelivered_message_and_only_then(
        api, account, record, hook, queue, receiver):
    from shared.repository import webhooks as store

    webhook = hook()
    [delivery_id] = webhooks.enqueue(account["accountId"], None, _event(account["accountId"], record))
    [sent] = queue["client"].receive_message(QueueUrl=queue["url"], MaxNumberOfMessages=10)["Messages"]
    message = json.loads(sent["Body"])
    delivery = store.get_delivery(account["accountId"], webhook["webhookId"], delivery_id)
    # A worker claimed the attempt and died before sending: its message comes back after the visibility timeout.
    assert store.claim_attempt(delivery, delivery.created_at)

    soon = deliveries.process_message(message, now=delivery.created_at + 5_000)
    later = deliveries.process_message(message, now=delivery.created_at + deliveries.ABANDONED_CLAIM_MS + 1_000)
    again = deliveries.process_message(message, now=delivery.created_at + deliveries.ABANDONED_CLAIM_MS + 2_000)

    assert (soon, later, again) == ("stale", "succeeded", "stale")
    assert len(receiver.wait_for(1)) == 1
    [shown] = api.get(f"/webhooks/{webhook['webhookId']}/deliveries").json()["items"]
    assert (shown["status"], shown["attempts"]) == ("succeeded", 2)


# --- record changes to deliveries ---------------------------------------------------------------------

def test_record_changes_become_deliveries_of_the_webhooks_that_subscribe_to_them(api, account, board, dns, queue,
                                                                                 table, event_bus):
    from tests.integration.conftest import events_stream_of

    stream = events_stream_of(table)
    stream.drain()
    on_default = api.post("/webhooks", {"url": "https://hooks.example.com/default",
                                        "events": ["record.created", "record.status_changed"],
                                        "kanbanId": account["kanbanId"]}).json()
    on_deletes = api.post("/webhooks", {"url": "https://hooks.example.com/deletes",
                                        "events": ["record.deleted"]}).json()

    record = api.post("/crm/records", {"title": "Lead"}).json()
    api.post("/crm/records", {"title": "Elsewhere"}, query={"kanbanId": board["id"]})
    api.put(f"/crm/records/{record['recordId']}", {"status": "contacted"})
    api.delete(f"/crm/records/{record['recordId']}")
    stream.drain()
    stream.drain()  # a stream retry creates no second delivery

    def deliveries(webhook):
        items = api.get(f"/webhooks/{webhook['webhookId']}/deliveries").json()["items"]
        return sorted((d["type"], d["eventId"], d["status"]) for d in items)

    record_id = record["recordId"]
    assert deliveries(on_default) == [("record.created", f"evt_{record_id}_1_created", "pending"),
                                      ("record.status_changed", f"evt_{record_id}_2_status_changed", "pending")]
    assert deliveries(on_deletes) == [("record.deleted", f"evt_{record_id}_3_deleted", "pending")]
    assert int(_attributes(queue)["ApproximateNumberOfMessages"]) == 3
