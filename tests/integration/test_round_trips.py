"""DynamoDB round trips per operation, counted on the botocore clients through the real handlers, with
the authorizer's answer cached as the deployed gateway caches it. Every count includes the two calls
each request makes before its route: the caller's rights (one BatchGetItem) and the rate-limit counter
(one UpdateItem). README's table "DynamoDB calls per operation" lists these numbers."""

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.local.gateway import ApiGatewayEmulator, invoke_handler
from shared.logic import records
from shared.logic.search import LOOKUP_COUNT_AT_MOST
from shared.models.api import CreateRecordRequest
from shared.models.domain import Principal
from shared.repository import records as repository
from shared.repository.table import bookkeeping_client, dynamodb_client
from shared.routes import AUTHORIZER_CACHE_SECONDS
from tests.integration.conftest import Api, create_member

# What every request through the gateway costs before its route: confirm the caller, count the request.
BEFORE_ROUTE = Counter({"BatchGetItem": 1, "UpdateItem": 1})


class Calls:
    """Counts the DynamoDB calls (by operation name) and the items they read, on both clients."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items_read = 0
        self.result: Any = None
        for client in (dynamodb_client(), bookkeeping_client()):
            client.meta.events.register("before-call.dynamodb", self._before)
            client.meta.events.register("after-call.dynamodb", self._after)

    def _before(self, model: Any, **_: Any) -> None:
        self.calls.update([model.name])

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.name == "Query":
            self.items_read += parsed.get("Count", 0)
        elif model.name == "GetItem":
            self.items_read += "Item" in parsed
        elif model.name == "BatchGetItem":
            self.items_read += sum(len(items) for items in parsed.get("Responses", {}).values())

    def of(self, action: Callable[[], Any]) -> Counter[str]:
        """The calls `action` makes (the items they read in self.items_read, its result in self.result)."""
        self.calls.clear()
        self.items_read = 0
        self.result = action()
        return Counter(self.calls)


@pytest.fixture
def cached(table, account) -> Api:
    """The API behind a gateway that caches authorizer results as API Gateway does."""
    return Api(ApiGatewayEmulator(invoke_handler, authorizer_cache_seconds=AUTHORIZER_CACHE_SECONDS),
               account["token"])


@pytest.fixture
def calls(cached) -> Iterator[Calls]:
    assert cached.get("/kanbans").status == 200  # the authorizer's answer is cached from here on
    yield Calls()


def ok(response, status: int = 200):
    assert response.status == status, response.body
    return response.json() if response.body else None


def route(**calls: int) -> Counter[str]:
    """The calls of a route, besides those every request makes before it."""
    return BEFORE_ROUTE + Counter(calls)


@pytest.fixture
def leads(cached) -> dict[str, Any]:
    """A kanban with a unique email, a select field and a text field; `["f"]` maps name -> field id."""
    kanban = ok(cached.post("/kanbans", {"name": "Leads", "fields": [
        {"name": "Email", "type": "email", "unique": True},
        {"name": "Source", "type": "select", "options": ["Web", "Fair"]},
        {"name": "Company", "type": "text"},
    ]}), 201)
    kanban["f"] = {f["name"]: f["id"] for f in kanban["fields"]}
    return kanban


def test_the_authorizer_reads_the_token_then_user_and_account_together(cached, account, calls):
    token = ok(cached.post("/tokens", {"userId": account["userId"], "name": "fresh"}), 201)["token"]
    fresh = cached.as_token(token)

    first = calls.of(lambda: ok(fresh.get("/kanbans")))
    again = calls.of(lambda: ok(fresh.get("/kanbans")))

    # The authorizer: GetItem of the token, one BatchGetItem of its user and account.
    assert first - again == Counter({"GetItem": 1, "BatchGetItem": 1})


def test_record_writes(cached, calls, leads):
    kanban = {"kanbanId": leads["id"]}
    f = leads["f"]

    created = {}
    assert calls.of(lambda: created.update(ok(cached.post("/crm/records", {"title": "A"}, query=kanban), 201))) \
        == route(GetItem=1, TransactWriteItems=1)
    record_id = created["recordId"]
    # A channelId is not looked up first: the transaction's condition on its lock tells, naming the
    # record that holds it (ReturnValuesOnConditionCheckFailure), which is then the answer.
    assert calls.of(lambda: ok(cached.post("/crm/records", {"title": "B", "channelId": "wa-1"}, query=kanban), 201)) \
        == route(GetItem=1, TransactWriteItems=1)
    assert calls.of(lambda: ok(cached.post("/crm/records", {"title": "B", "channelId": "wa-1"}, query=kanban))) \
        == route(GetItem=2, TransactWriteItems=1)
    assert calls.of(lambda: ok(cached.post("/crm/records", {"title": "C", "customFields": {
        f["Email"]: "c@example.com", f["Source"]: "Web"}}, query=kanban), 201)) \
        == route(GetItem=1, TransactWriteItems=1)

    path = f"/crm/records/{record_id}"
    # The record and its entries in one Query; a title alone needs no read of the kanban.
    assert calls.of(lambda: ok(cached.put(path, {"title": "A2"}))) == route(Query=1, TransactWriteItems=1)
    assert calls.of(lambda: ok(cached.put(path, {"status": leads["statuses"][1]["value"]}))) \
        == route(Query=1, GetItem=1, TransactWriteItems=1)
    assert calls.of(lambda: ok(cached.put(path, {"customFields": {f["Email"]: "a@example.com",
                                                                  f["Company"]: "Acme"}}))) \
        == route(Query=1, GetItem=1, TransactWriteItems=1)
    assert calls.of(lambda: ok(cached.get(path))) == route(GetItem=1)
    assert calls.of(lambda: ok(cached.delete(path))) == route(Query=1, TransactWriteItems=1)
    # The trash item and its entries in one Query.
    assert calls.of(lambda: ok(cached.post(f"{path}/restore"))) \
        == route(Query=1, GetItem=1, TransactWriteItems=1)


def test_record_reads(cached, calls, leads):
    for n in range(3):
        ok(cached.post("/crm/records", {"title": f"R{n}", "customFields": {leads["f"]["Source"]: "Web"}},
                       query={"kanbanId": leads["id"]}), 201)

    assert calls.of(lambda: ok(cached.get("/crm/records", query={"kanbanId": leads["id"]}))) \
        == route(GetItem=1, Query=1, BatchGetItem=1)
    assert calls.of(lambda: ok(cached.get("/crm/search/aggregations", query={"kanbanId": leads["id"]}))) \
        == route(GetItem=2)


def test_exact_lookups(cached, calls, leads):
    for n in range(3):
        ok(cached.post("/crm/records", {"title": f"R{n}", "customFields": {leads["f"]["Source"]: "Web"}},
                       query={"kanbanId": leads["id"]}), 201)
    _, token = create_member(cached, [leads["id"]])
    lookup = {"customFieldId": leads["f"]["Source"], "customFieldValue": "Web"}
    member = cached.as_token(token)
    ok(member.get("/kanbans"))  # the member's token is known to the gateway from here on

    assert calls.of(lambda: ok(cached.get("/crm/search", query=lookup))) \
        == route(Query=2, BatchGetItem=1)
    assert calls.of(lambda: ok(member.get("/crm/search", query=lookup))) \
        == route(Query=2, BatchGetItem=1)


def test_batch_of_creates(cached, calls, leads):
    operations = [{"action": "create", "record": {"title": f"N{n}"}} for n in range(10)]

    # The default kanban's id comes from the account as confirming the caller read it; then the kanban.
    assert calls.of(lambda: ok(cached.post("/crm/records/batch", {"operations": operations}))) \
        == route(GetItem=1, TransactWriteItems=1)


def test_kanbans_history_and_change_feed(cached, calls, leads, changes_stream):
    record = ok(cached.post("/crm/records", {"title": "A"}, query={"kanbanId": leads["id"]}), 201)
    changes_stream.drain()
    path = f"/kanbans/{leads['id']}"

    assert calls.of(lambda: ok(cached.get(path))) == route(GetItem=1)
    assert calls.of(lambda: ok(cached.put(path, {"name": "Leads 2"}))) \
        == route(GetItem=1, Query=1, TransactWriteItems=1)
    assert calls.of(lambda: ok(cached.get(f"/crm/records/{record['recordId']}/history"))) == route(Query=1)
    assert calls.of(lambda: ok(cached.get("/crm/changes"))) == route(Query=1)


# An exact lookup with MATCHES matches, at a page of PAGE, reads ITEMS_READ items besides the caller's:
# the account's 3 kanbans (for the field's type), the page's 20 entries, 101 counted, the page's 20
# records. `make bench` reports these figures.
MATCHES = 200
PAGE = 20
ITEMS_READ = 144
# The items confirming the caller reads (token, user, account).
CALLER_ITEMS = 3


def test_an_exact_lookup_reads_a_page_whatever_the_number_of_matches(cached, account, calls, leads):
    other = ok(cached.post("/kanbans", {"name": "Other"}), 201)
    source = leads["f"]["Source"]
    admin = Principal(account_id=account["accountId"], user_id=account["userId"], role="admin", token_id="seed")
    news = [records.prepare_create(admin, leads["id"], CreateRecordRequest(title=f"R{n}", customFields={source: "Web"}))
            for n in range(MATCHES)]
    for group in repository.creation_groups(news):
        assert records.write_together([news[i] for i in group])
    _, token = create_member(cached, [leads["id"], other["id"]])
    member = cached.as_token(token)
    ok(member.get("/kanbans"))
    lookup = {"customFieldId": source, "customFieldValue": "web", "pageSize": PAGE}

    read = {}
    for name, caller in (("admin", cached), ("member", member)):
        calls.of(lambda caller=caller: caller.get("/crm/search", query=lookup))
        answer = ok(calls.result)
        assert len(answer["items"]) == PAGE
        # The matches past the page are counted up to LOOKUP_COUNT_AT_MOST: the total is then a lower bound.
        assert answer["total"] == PAGE + LOOKUP_COUNT_AT_MOST and calls.result.headers["X-Total-Is-Capped"] == "true"
        read[name] = calls.items_read - CALLER_ITEMS

    assert read == {"admin": ITEMS_READ, "member": ITEMS_READ}
    last = cached.get("/crm/search", query={**lookup, "page": MATCHES // PAGE})
    assert len(ok(last)["items"]) == PAGE and ok(last)["total"] == MATCHES
    assert "X-Total-Is-Capped" not in last.headers
