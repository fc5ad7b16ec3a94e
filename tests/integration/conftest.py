"""Integration fixtures: a moto table built from the shared definition, and an API client that sends
requests through the gateway emulator (real authorizer, real proxy events, real handlers)."""

import json
import uuid
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from moto import mock_aws

from shared.eventbus import events_client
from shared.local.gateway import ApiGatewayEmulator, GatewayResponse, invoke_handler
from shared.local.stream_poller import StreamPoller, is_record_or_trash_change
from shared.local.typesense import TypesenseConnection, TypesenseServer, external_typesense, free_port
from shared.logic.admin import bootstrap_account
from shared.repository.table import create_idempotency_table, create_table, dynamodb_client
from shared.routes import EVENTS_HANDLER, INDEXER_HANDLER
from shared.search.index import index_writer, search_reader
from shared.settings import get_settings


class Api:
    """Calls the API as an integration would: method, path, query, Bearer token, JSON body."""

    def __init__(self, emulator: ApiGatewayEmulator, token: str | None):
        self.emulator = emulator
        self.token = token

    def as_token(self, token: str | None) -> "Api":
        return Api(self.emulator, token)

    def request(self, method: str, path: str, *, json_body: Any = None, body: str | None = None,
                query: dict[str, Any] | str | None = None, headers: dict[str, str] | None = None) -> GatewayResponse:
        all_headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        all_headers |= headers or {}
        raw = body.encode() if body is not None else None
        if json_body is not None:
            raw = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        query_string = query if isinstance(query, str) else urlencode(query or {}, doseq=True)
        return self.emulator.dispatch(method, path, query_string, all_headers, raw)

    def get(self, path: str, **kwargs: Any) -> GatewayResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> GatewayResponse:
        return self.request("POST", path, json_body=body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> GatewayResponse:
        return self.request("PUT", path, json_body=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> GatewayResponse:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def table():
    with mock_aws():
        create_table(dynamodb_client(), get_settings().table_name)
        create_idempotency_table(dynamodb_client(), get_settings().idempotency_table_name)
        yield get_settings().table_name


@pytest.fixture
def emulator(table) -> ApiGatewayEmulator:
    # No authorizer cache, so a revoked token is refused on the very next request.
    return ApiGatewayEmulator(invoke_handler, authorizer_cache_seconds=0)


@pytest.fixture
def account(table) -> dict[str, str]:
    return bootstrap_account("Acme Inc", "Ada Admin", "ada@example.com")


@pytest.fixture
def api(emulator, account) -> Api:
    return Api(emulator, account["token"])


ALL_FIELD_TYPES = [
    {"name": "Company", "type": "text"},
    {"name": "Notes", "type": "textarea"},
    {"name": "Employees", "type": "number"},
    {"name": "Deal Value", "type": "currency"},
    {"name": "Close Date", "type": "date"},
    {"name": "Next Call", "type": "datetime"},
    {"name": "Lead Source", "type": "select", "options": ["Website", "Referral", "Social Media", "Cold Call"]},
    {"name": "Interests", "type": "multiselect", "options": ["CRM", "Search", "Analytics"]},
    {"name": "Newsletter", "type": "boolean"},
    {"name": "Email", "type": "email"},
    {"name": "Phone", "type": "phone"},
    {"name": "Website", "type": "url"},
]


@pytest.fixture
def board(api) -> dict[str, Any]:
    """A kanban with one field of every type; `board["f"]` maps field type -> field id."""
    response = api.post("/kanbans", {"name": "Deals", "fields": ALL_FIELD_TYPES})
    assert response.status == 201, response.body
    kanban = response.json()
    kanban["f"] = {f["type"]: f["id"] for f in kanban["fields"]}
    return kanban


@pytest.fixture
def unique_board(api) -> dict[str, Any]:
    """A kanban with a unique email, a unique phone and a plain text field; `["f"]` maps name -> field id."""
    response = api.post("/kanbans", {"name": "Leads", "fields": [
        {"name": "Email", "type": "email", "unique": True},
        {"name": "Phone", "type": "phone", "unique": True},
        {"name": "Company", "type": "text"},
    ]})
    assert response.status == 201, response.body
    kanban = response.json()
    kanban["f"] = {f["name"]: f["id"] for f in kanban["fields"]}
    return kanban


def create_member(api: Api, kanban_ids: list[str]) -> tuple[dict[str, Any], str]:
    """A member user with access to kanban_ids, and a token for them."""
    user = api.post("/users", {"name": "Mia Member", "email": "mia@example.com", "role": "member",
                               "kanbanIds": kanban_ids})
    assert user.status == 201, user.body
    token = api.post("/tokens", {"userId": user.json()["userId"], "name": "mia"})
    assert token.status == 201, token.body
    return user.json(), token.json()["token"]


# --- search ------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def typesense_server(tmp_path_factory):
    """One real Typesense server for the whole session (the one TYPESENSE_URL and TYPESENSE_API_KEY name,
    or else a bundled server started here); each test gets its own collection alias."""
    if external := external_typesense():
        external.create_search_key()
        yield external
        return
    server = TypesenseServer(tmp_path_factory.mktemp("typesense") / "data", free_port(), "test-admin-key")
    server.start()
    server.create_search_key()
    yield server
    server.stop()


def use_typesense(server: TypesenseConnection, monkeypatch) -> None:
    """Point the functions' settings at a Typesense server, under a collection alias of their own."""
    monkeypatch.setenv("TYPESENSE_NODES", server.url)
    monkeypatch.setenv("TYPESENSE_API_KEY", server.api_key)
    monkeypatch.setenv("TYPESENSE_SEARCH_KEY", server.search_key)
    monkeypatch.setenv("TYPESENSE_COLLECTION", f"crm-test-{uuid.uuid4().hex[:10]}")
    get_settings.cache_clear()
    forget_search_clients()


def forget_search_clients() -> None:
    """Drop the process's index writer and search reader: the next use builds them from the settings again."""
    index_writer.cache_clear()
    search_reader.cache_clear()


@pytest.fixture
def search_settings(typesense_server, monkeypatch):
    use_typesense(typesense_server, monkeypatch)
    yield
    forget_search_clients()


def stream_of(table: str) -> StreamPoller:
    """The table's stream feeding the real indexer handler; call .drain() to index what was written."""
    client = boto3.client("dynamodb")
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    return StreamPoller(boto3.client("dynamodbstreams"), arn, lambda event: invoke_handler(INDEXER_HANDLER, event))


@pytest.fixture
def stream(table, search_settings) -> StreamPoller:
    poller = stream_of(table)
    poller.drain()
    return poller


# --- record changes: history, change feed, events ----------------------------------------------------

EVENT_BUS = "crm-test-events"


@pytest.fixture
def event_bus(table, monkeypatch) -> str:
    """The custom bus (moto's EventBridge) the events function puts changes on."""
    monkeypatch.setenv("EVENT_BUS_NAME", EVENT_BUS)
    get_settings.cache_clear()
    events_client.cache_clear()
    boto3.client("events").create_event_bus(Name=EVENT_BUS)
    yield EVENT_BUS
    events_client.cache_clear()


def events_stream_of(table: str, invoke=None) -> StreamPoller:
    """The table's stream feeding the real events handler (its own position and filter, as its own event
    source mapping has); call .drain() to record what was written."""
    client = boto3.client("dynamodb")
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    return StreamPoller(boto3.client("dynamodbstreams"), arn,
                        invoke or (lambda event: invoke_handler(EVENTS_HANDLER, event)),
                        accepts=is_record_or_trash_change)


@pytest.fixture
def changes_stream(table, event_bus) -> StreamPoller:
    poller = events_stream_of(table)
    poller.drain()
    return poller
