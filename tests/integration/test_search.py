"""Search through the real handlers: DynamoDB stream -> indexer -> real Typesense -> search function."""


import boto3
import pytest

from shared.local.gateway import invoke_handler
from shared.logic.admin import bootstrap_account
from shared.routes import INDEXER_HANDLER
from shared.search.index import SearchFilter, search_reader
from tests.integration.conftest import create_member, forget_search_clients

FIELDS = [
    {"name": "Email", "type": "email"},
    {"name": "Phone", "type": "phone"},
    {"name": "Deal Value", "type": "currency"},
    {"name": "Notes", "type": "textarea"},
    {"name": "Tags", "type": "multiselect", "options": ["Hot", "Cold", "VIP"]},
    {"name": "Company", "type": "text"},
]


@pytest.fixture
def crm(api, stream):
    """A kanban with searchable and non-searchable fields, and the reference's John Doe record."""
    kanban = api.post("/kanbans", {"name": "Leads", "fields": FIELDS}).json()
    f = {field["name"]: field["id"] for field in kanban["fields"]}
    john = api.post("/crm/records", {"title": "John Doe - New Lead", "customFields": {
        f["Email"]: "john@example.com", f["Phone"]: "+1234567890", f["Deal Value"]: 5000,
        f["Notes"]: "prefers mornings",
    }}, query={"kanbanId": kanban["id"]}).json()
    stream.drain()
    return {"kanban": kanban, "f": f, "john": john}


def ids(response) -> list[str]:
    assert response.status == 200, response.body
    return [item["recordId"] for item in response.json()["items"]]


@pytest.mark.parametrize("query", ["john", "doe", "lead", "example", "+123", "7890", "jonh", "JOHN", "xampl"])
def test_the_reference_examples_match(api, crm, query):
    assert ids(api.get("/crm/search", query={"q": query})) == [crm["john"]["recordId"]]


@pytest.mark.parametrize("query", ["5000", "mornings", "zebra"])
def test_non_indexed_types_and_unrelated_words_do_not_match(api, crm, query):
    assert ids(api.get("/crm/search", query={"q": query})) == []


def test_response_shape_is_the_references(api, crm):
    body = api.get("/crm/search", query={"q": "john", "kanbanId": crm["kanban"]["id"]}).json()
    assert set(body) == {"items", "total", "page", "pageSize", "totalPages"}
    assert (body["total"], body["page"], body["pageSize"], body["totalPages"]) == (1, 1, 20, 1)
    assert body["items"][0] == crm["john"]
    assert {"channelId", "createdBy", "updatedBy"} <= set(body["items"][0])


def test_without_q_lists_everything_newest_first_with_filters_and_pages(api, crm, stream):
    kanban = crm["kanban"]["id"]
    made = [api.post("/crm/records", {"title": f"Lead {i}", "status": "contacted" if i % 2 else "new"},
                     query={"kanbanId": kanban}).json()["recordId"] for i in range(5)]
    api.post("/crm/records", {"title": "Elsewhere"})  # default kanban
    stream.drain()

    assert ids(api.get("/crm/search", query={"kanbanId": kanban})) == [*reversed(made), crm["john"]["recordId"]]
    assert ids(api.get("/crm/search", query={"kanbanId": kanban, "status": "contacted"})) == [made[3], made[1]]
    page = api.get("/crm/search", query={"kanbanId": kanban, "page": 2, "pageSize": 4}).json()
    assert [i["recordId"] for i in page["items"]] == [made[0], crm["john"]["recordId"]]
    assert (page["total"], page["page"], page["pageSize"], page["totalPages"]) == (6, 2, 4, 2)
    assert len(ids(api.get("/crm/search"))) == 7


@pytest.mark.parametrize("query", [
    {"page": 0}, {"pageSize": 0}, {"pageSize": 101}, {"page": "x"}, {"customFieldId": "field_1"},
    {"customFieldValue": "x"}, {"status": "New Lead"}, {"colour": "red"},
])
def test_bad_search_parameters_are_400(api, crm, query):
    response = api.get("/crm/search", query=query)
    assert response.status == 400 and response.json()["error"] == "Bad Request"


def test_items_are_the_records_as_stored_now(api, crm):
    rid = crm["john"]["recordId"]
    api.put(f"/crm/records/{rid}", {"title": "John Doe - Customer"})  # not yet indexed
    [item] = api.get("/crm/search", query={"q": "lead"}).json()["items"]
    assert item["title"] == "John Doe - Customer"

    api.delete(f"/crm/records/{rid}")  # not yet removed from the index
    assert ids(api.get("/crm/search", query={"q": "john"})) == []


def test_updates_and_deletes_reach_the_index(api, crm, stream):
    rid = crm["john"]["recordId"]
    api.put(f"/crm/records/{rid}", {"title": "Johnny Walker", "customFields": {crm["f"]["Email"]: "jw@acme.test"}})
    stream.drain()
    assert ids(api.get("/crm/search", query={"q": "walker"})) == [rid]
    assert ids(api.get("/crm/search", query={"q": "example"})) == []
    api.delete(f"/crm/records/{rid}")
    stream.drain()
    assert api.get("/crm/search", query={"q": "walker"}).json()["total"] == 0


class TestExactLookup:
    def test_phones_match_whatever_their_formatting(self, api, crm):
        phone = crm["f"]["Phone"]
        for value in ("+1234567890", "+1 234-567-890", "+1 (234) 567.890"):
            assert ids(api.get("/crm/search", query={"customFieldId": phone, "customFieldValue": value})) == [
                crm["john"]["recordId"]
            ], value
        # The reference's unencoded form: "+" arrives as a space.
        raw = api.get("/crm/search", query=f"customFieldId={phone}&customFieldValue=+1234567890")
        assert ids(raw) == [crm["john"]["recordId"]]
        assert ids(api.get("/crm/search", query={"customFieldId": phone, "customFieldValue": "+123"})) == []

    def test_case_insensitive_and_ignores_q_kanban_and_status(self, api, crm):
        response = api.get("/crm/search", query={
            "customFieldId": crm["f"]["Email"], "customFieldValue": " JOHN@Example.com ",
            "q": "nothing-like-it", "kanbanId": "kanban_other", "status": "closed",
        })
        assert ids(response) == [crm["john"]["recordId"]]
        assert response.json()["total"] == 1 and response.json()["totalPages"] == 1

    def test_served_by_the_table_without_the_search_engine(self, api, crm, monkeypatch):
        monkeypatch.setenv("TYPESENSE_NODES", "http://127.0.0.1:9")
        forget_search_clients()
        from shared.settings import get_settings

        get_settings.cache_clear()
        response = api.get("/crm/search", query={"customFieldId": crm["f"]["Email"],
                                                 "customFieldValue": "john@example.com"})
        assert ids(response) == [crm["john"]["recordId"]]

    def test_multiselect_options_and_pagination(self, api, crm):
        kanban, tags = crm["kanban"]["id"], crm["f"]["Tags"]
        made = [api.post("/crm/records", {"title": f"t{i}", "customFields": {tags: ["Hot", "VIP"]}},
                         query={"kanbanId": kanban}).json()["recordId"] for i in range(3)]
        first = api.get("/crm/search", query={"customFieldId": tags, "customFieldValue": "vip", "pageSize": 2})
        second = api.get("/crm/search", query={"customFieldId": tags, "customFieldValue": "vip", "pageSize": 2,
                                               "page": 2})
        assert ids(first) + ids(second) == list(reversed(made))
        assert first.json()["total"] == 3 and first.json()["totalPages"] == 2

    def test_unknown_or_unindexed_fields_are_400(self, api, crm):
        for field_id in ("field_nope", crm["f"]["Deal Value"], crm["f"]["Notes"]):
            response = api.get("/crm/search", query={"customFieldId": field_id, "customFieldValue": "5000"})
            assert response.status == 400 and field_id in response.json()["message"]


class TestAggregations:
    def counts(self, api, **query):
        response = api.get("/crm/search/aggregations", query=query)
        assert response.status == 200, response.body
        return [(s["key"], s["count"]) for s in response.json()["status"]]

    def test_counts_are_exact_after_every_kind_of_write(self, api, account):
        assert self.counts(api) == [("new", 0), ("contacted", 0), ("qualified", 0), ("closed", 0)]
        a = api.post("/crm/records", {"title": "a"}).json()["recordId"]
        api.post("/crm/records", {"title": "b", "status": "closed"})
        assert self.counts(api) == [("new", 1), ("contacted", 0), ("qualified", 0), ("closed", 1)]
        api.put(f"/crm/records/{a}", {"status": "qualified"})
        assert self.counts(api, kanbanId=account["kanbanId"]) == [
            ("new", 0), ("contacted", 0), ("qualified", 1), ("closed", 1)]
        api.delete(f"/crm/records/{a}")
        assert self.counts(api) == [("new", 0), ("contacted", 0), ("qualified", 0), ("closed", 1)]
        # A channelId duplicate adds nothing.
        api.post("/crm/records", {"title": "c", "channelId": "x"})
        api.post("/crm/records", {"title": "c", "channelId": "x"})
        assert dict(self.counts(api))["new"] == 1

    def test_per_kanban_in_board_order(self, api):
        kanban = api.post("/kanbans", {"name": "Hiring", "statuses": [
            {"value": "applied", "label": "Applied"}, {"value": "hired", "label": "Hired"}]}).json()
        api.post("/crm/records", {"title": "x", "status": "hired"}, query={"kanbanId": kanban["id"]})
        assert self.counts(api, kanbanId=kanban["id"]) == [("applied", 0), ("hired", 1)]
        assert api.get("/crm/search/aggregations", query={"kanbanId": "kanban_nope"}).status == 404


def test_an_older_version_never_overwrites_a_newer_one(api, crm, table):
    rid = crm["john"]["recordId"]
    api.put(f"/crm/records/{rid}", {"title": "Version Two"})
    api.put(f"/crm/records/{rid}", {"title": "Version Three"})
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    changes = [r for r in streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
               if r["dynamodb"]["Keys"]["SK"]["S"] == "RECORD" and r["dynamodb"].get("NewImage", {}).get(
                   "recordId", {}).get("S") == rid]
    for change in changes:
        change["dynamodb"].pop("ApproximateCreationDateTime", None)
    newest_first = [dict(c, eventSourceARN=arn) for c in reversed(changes)]

    # One delivery per invocation (redeliveries, retries), then all of them in one batch.
    for change in newest_first:
        assert invoke_handler(INDEXER_HANDLER, {"Records": [change]}) == {"batchItemFailures": []}
        assert ids(api.get("/crm/search", query={"q": "three"})) == [rid]
    assert invoke_handler(INDEXER_HANDLER, {"Records": newest_first}) == {"batchItemFailures": []}

    assert ids(api.get("/crm/search", query={"q": "three"})) == [rid]
    assert ids(api.get("/crm/search", query={"q": "two"})) == []
    assert ids(api.get("/crm/search", query={"q": "lead"})) == []


def test_an_outage_loses_nothing_and_heals_by_itself(api, crm, stream, monkeypatch, typesense_server):
    from shared.settings import get_settings

    def point_search_at(nodes: str) -> None:
        monkeypatch.setenv("TYPESENSE_NODES", nodes)
        get_settings.cache_clear()
        forget_search_clients()

    point_search_at("http://127.0.0.1:9")  # nothing listens there
    written = api.post("/crm/records", {"title": "Written During Outage"}, query={"kanbanId": crm["kanban"]["id"]})
    assert written.status == 201
    with pytest.raises(RuntimeError, match="failed"):
        stream.drain()
    down = api.get("/crm/search", query={"q": "outage"})
    assert down.status == 503 and down.json()["error"] == "Service Unavailable"

    point_search_at(typesense_server.url)
    stream.drain()
    assert ids(api.get("/crm/search", query={"q": "outage"})) == [written.json()["recordId"]]


class TestIsolation:
    def test_no_query_reaches_another_account(self, api, crm, stream):
        other = bootstrap_account("Other", "Olga", "olga@example.com")
        intruder = api.as_token(other["token"])
        intruder.post("/crm/records", {"title": "John Doe - Other Account"})
        stream.drain()
        for query in ({"q": "john"}, {}, {"q": "*"}):
            response = intruder.get("/crm/search", query=query)
            assert response.status == 200 and response.json()["items"], query
            assert all(i["accountId"] == other["accountId"] for i in response.json()["items"]), query
        assert intruder.get("/crm/search", query={"q": "john", "kanbanId": crm["kanban"]["id"]}).status == 404
        assert [i["accountId"] for i in api.get("/crm/search", query={"q": "john"}).json()["items"]] == [
            crm["john"]["accountId"]]

    @pytest.mark.parametrize("attack", [
        {"kanbanId": "x` || accountId:!=`nobody"},
        {"kanbanId": "kanban_1 || accountId:!=nobody"},
        {"status": "new` || accountId:!=`nobody"},
        {"status": "new || accountId:!=nobody"},
        {"status": "new && kanbanId:!=x"},
    ])
    def test_filter_injection_cannot_widen_the_search(self, api, crm, attack):
        response = api.get("/crm/search", query=attack)
        assert response.status in (400, 404)

    def test_the_engine_itself_confines_a_search_to_the_account(self, api, crm):
        """Even a filter asking for another account returns nothing: the scoped key's filter wins."""
        reader = search_reader()
        result = reader.search_as("account_other", {"q": "*", "filter_by": f"accountId:=`{crm['john']['accountId']}`"})
        assert result is not None and result["found"] == 0
        page = reader.search(None, SearchFilter(crm["john"]["accountId"], None, None), 1, 10)
        assert page.record_ids == [crm["john"]["recordId"]]

    def test_members_search_only_their_kanbans(self, api, crm, stream, account):
        _, token = create_member(api, [crm["kanban"]["id"]])
        member = api.as_token(token)
        api.post("/crm/records", {"title": "John Doe - Private"})  # default kanban, no access
        stream.drain()
        assert ids(member.get("/crm/search", query={"q": "john"})) == [crm["john"]["recordId"]]
        assert member.get("/crm/search", query={"kanbanId": account["kanbanId"]}).status == 403
        assert member.get("/crm/search/aggregations").status == 403
        private = api.get("/crm/search", query={"q": "private"}).json()["items"][0]
        lookup = member.get("/crm/search", query={"customFieldId": crm["f"]["Email"],
                                                  "customFieldValue": "john@example.com"})
        assert ids(lookup) == [crm["john"]["recordId"]] and private["recordId"] not in ids(lookup)


def test_search_before_anything_was_ever_indexed_finds_nothing(api, search_settings):
    response = api.get("/crm/search", query={"q": "anything"})
    assert response.status == 200 and response.json()["total"] == 0


def test_a_warm_search_function_builds_one_http_client_whatever_the_account(api, crm, stream, monkeypatch):
    """Given three accounts with a record each, when a fresh process serves their searches through the
    handler, then it builds one HTTP client with one connection pool to the node, and reuses it."""
    import urllib3

    others = [bootstrap_account(f"Tenant {n}", "Ada", f"ada{n}@example.com") for n in range(2)]
    tenants = [(api, crm["john"]["recordId"], "john")]
    for n, other in enumerate(others):
        tenant = api.as_token(other["token"])
        word = ("alpha", "bravo")[n]
        tenants.append((tenant, tenant.post("/crm/records", {"title": f"Lead {word}"}).json()["recordId"], word))
    stream.drain()
    forget_search_clients()  # as in a fresh process

    clients: list[urllib3.PoolManager] = []
    build = urllib3.PoolManager.__init__

    def counted(self, *args, **kwargs):
        clients.append(self)
        build(self, *args, **kwargs)

    monkeypatch.setattr(urllib3.PoolManager, "__init__", counted)
    for _ in range(2):
        for tenant, record_id, word in tenants:
            assert ids(tenant.get("/crm/search", query={"q": word})) == [record_id]

    assert len(clients) == 1 and len(clients[0].pools) == 1
