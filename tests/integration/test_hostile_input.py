"""Input that once made the API answer 5xx or silently change what was sent: every such request is a
documented 400 (or 413) that names the problem, and writes nothing."""

import json

import boto3
import pytest

from shared.local.events import proxy_event
from shared.local.gateway import ApiGatewayEmulator, FunctionFailed, invoke_handler
from shared.routes import ROUTE_GROUP_HANDLERS
from tests.integration.conftest import Api


@pytest.fixture
def snapshot(table):
    """Every item of the table but the request counters (a refused request still counts), to show a
    refused request wrote nothing."""
    def items() -> list:
        found = boto3.client("dynamodb").scan(TableName=table)["Items"]
        return sorted(json.dumps(i, sort_keys=True) for i in found if not i["PK"]["S"].startswith("RATE#"))

    return items


def refused(response, status: int = 400) -> str:
    assert response.status == status, response.body
    body = response.json()
    assert set(body) == {"error", "message"}
    return body["message"]


@pytest.mark.parametrize("url", ["http://[", "http://[::1", "http://example.com:99999/", "http://example.com:0",
                                 "http://a]b.example.com", "http://[not-ipv6]/"])
def test_malformed_urls_are_a_400_naming_the_field(api, board, snapshot, url):
    before = snapshot()

    message = refused(api.post("/crm/records", {"title": "x", "customFields": {board["f"]["url"]: url}},
                               query={"kanbanId": board["id"]}))

    assert f"customFields.{board['f']['url']} (Website)" in message and "URL" in message
    assert snapshot() == before


def test_urls_with_ipv6_hosts_and_ports_are_kept(api, board):
    url = "http://[2001:db8::1]:8080/path?q=1"
    created = api.post("/crm/records", {"title": "x", "customFields": {board["f"]["url"]: url}},
                       query={"kanbanId": board["id"]})
    assert created.status == 201 and created.json()["customFields"][board["f"]["url"]] == url


def test_deeply_nested_bodies_are_a_400(api, snapshot):
    before = snapshot()
    nested = '{"title": "x", "customFields": {"a": ' + "[" * 1000 + "]" * 1000 + "}}"

    assert "nested too deeply" in refused(api.request("POST", "/crm/records", body=nested))
    twenty_deep = '{"a": ' + "[" * 20 + "]" * 20 + "}"
    assert "nested too deeply" in refused(api.request("POST", "/crm/records", body=twenty_deep))
    assert snapshot() == before


def test_huge_integers_are_a_400_even_under_unknown_keys(api, snapshot):
    before = snapshot()

    message = refused(api.request("POST", "/crm/records", body='{"title": "x", "junk": ' + "9" * 4301 + "}"))

    assert "more than 100 digits" in message
    assert snapshot() == before


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/crm/records"), ("PUT", "/crm/records/{record}"), ("POST", "/kanbans"), ("PUT", "/kanbans/{kanban}"),
    ("POST", "/users"), ("PUT", "/users/{user}"), ("POST", "/tokens"),
])
@pytest.mark.parametrize("body", ['[{"title": "a"}, {"title": "b"}]', '"title"', "42", "null", "true"])
def test_a_body_must_be_one_json_object(api, account, snapshot, method, path, body):
    record = api.post("/crm/records", {"title": "existing"}).json()["recordId"]
    path = path.format(record=record, kanban=account["kanbanId"], user=account["userId"])
    before = snapshot()

    message = refused(api.request(method, path, body=body))

    assert message.startswith("the request body must be a JSON object, not ")
    assert snapshot() == before


@pytest.mark.parametrize("raw", [b'{"title": "caf\xe9"}', b'{"title": "\xff\xfe"}', b'{"title": "ok\xc3"}'])
def test_invalid_utf8_is_a_400_not_a_replacement_character(api, snapshot, raw):
    before = snapshot()

    response = api.emulator.dispatch("POST", "/crm/records", "", {"Authorization": f"Bearer {api.token}"}, raw)

    assert "not valid UTF-8" in refused(response)
    assert snapshot() == before


def test_utf8_text_arrives_as_sent(api):
    raw = '{"title": "Zoë – 東京 🚀"}'.encode()
    response = api.emulator.dispatch("POST", "/crm/records", "", {"Authorization": f"Bearer {api.token}"}, raw)
    assert response.status == 201 and response.json()["title"] == "Zoë – 東京 🚀"


def test_invalid_json_names_the_place(api):
    message = refused(api.request("POST", "/crm/records", body='{"title": "x",\n "status": }'))
    assert message == "the request body is not valid JSON: Expecting value (line 2, column 12)"
    assert "NaN is not a JSON number" in refused(api.request("POST", "/crm/records", body='{"title": NaN}'))


def test_a_body_over_lambdas_payload_limit_is_a_413(api, snapshot):
    before = snapshot()
    body = json.dumps({"title": "big", "customFields": {"notes": "x" * (5 * 1024 * 1024)}})

    response = api.request("POST", "/crm/records", body=body)

    assert response.status == 413
    assert response.json()["error"] == "Request Entity Too Large" and "6 MB" in response.json()["message"]
    assert snapshot() == before


def test_a_failing_rate_limit_check_names_the_request_id(account, table):
    boto3.client("dynamodb").delete_table(TableName=table)
    event = proxy_event("GET", "/crm/records", authorizer={
        "accountId": account["accountId"], "userId": account["userId"], "role": "admin",
        "tokenId": account["tokenId"], "principalId": account["userId"]})

    response = invoke_handler(ROUTE_GROUP_HANDLERS["records"], event)

    assert response["statusCode"] == 500
    message = json.loads(response["body"])["message"]
    assert message.endswith(f"(request id {event['requestContext']['requestId']})")


def test_a_failing_authorizer_is_a_500_naming_a_request_id(account, table):
    def broken(handler_path, event):
        raise FunctionFailed("the table is gone")

    response = Api(ApiGatewayEmulator(broken, authorizer_cache_seconds=0), account["token"]).get("/kanbans")

    assert response.status == 500
    assert response.json()["error"] == "Internal Server Error" and "(request id " in response.json()["message"]
