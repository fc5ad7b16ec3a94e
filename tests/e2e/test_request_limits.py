"""The local gateway refuses what the deployed one refuses, over HTTP: bodies over a function's payload
limit, and bodies over API Gateway's own limit before it reads them."""

import http.client
import json
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e


def connect(stack) -> http.client.HTTPConnection:
    url = urlsplit(stack.base_url)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=60)


@pytest.mark.gateway_only("Lambda's 6 MB invocation payload limit (the emulator passes larger events on)")
def test_a_body_over_the_functions_payload_limit_is_a_413(stack):
    body = json.dumps({"title": "big", "customFields": {"field_notes_abc": "x" * (5 * 1024 * 1024)}})

    response = stack.request("POST", "/crm/records", body=json.loads(body))

    assert response.status == 413
    assert response.json()["error"] == "Request Entity Too Large"


@pytest.mark.gateway_only("API Gateway's 10 MB request limit (sam local start-api waits for the whole body)")
def test_a_body_over_the_gateways_limit_is_refused_unread(stack):
    connection = connect(stack)
    connection.putrequest("POST", "/crm/records")
    connection.putheader("Authorization", f"Bearer {stack.demo['token']}")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(11 * 1024 * 1024))
    connection.endheaders()  # and no body: the answer comes without it

    response = connection.getresponse()

    assert response.status == 413
    assert "6 MB" in json.loads(response.read())["message"]


def test_keep_alive_connections_serve_request_after_request(stack):
    connection = connect(stack)
    for _ in range(5):
        connection.request("GET", "/kanbans", headers={"Authorization": f"Bearer {stack.demo['token']}"})
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["items"]
