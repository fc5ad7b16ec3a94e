"""Unknown routes, wrong methods and unexpected failures answer in the documented error format."""

import json

import boto3

from shared.local.events import proxy_event
from shared.local.gateway import invoke_handler
from shared.repository import keys
from shared.routes import ROUTE_GROUP_HANDLERS


def test_unknown_route_is_404(api):
    response = api.get("/crm/nothing")
    assert response.status == 404
    assert response.json() == {"error": "Not Found", "message": "no route for GET /crm/nothing"}


def test_wrong_method_is_405_with_allow(api):
    response = api.request("PATCH", "/crm/records/record_1_x")
    assert response.status == 405
    assert response.json()["error"] == "Method Not Allowed"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "PUT", "DELETE"}


def test_unexpected_failures_are_500_without_internals(api, account, table):
    # A damaged item (no title) makes the records function fail in a way no rule anticipates.
    boto3.client("dynamodb").put_item(TableName=table, Item={
        "PK": {"S": keys.record_pk(account["accountId"], "record_1_broken")}, "SK": {"S": keys.RECORD_SK},
        "recordId": {"S": "record_1_broken"},
    })

    response = api.get("/crm/records/record_1_broken")

    assert response.status == 500
    body = response.json()
    assert body["error"] == "Internal Server Error" and "request id" in body["message"]
    assert "Traceback" not in response.body.decode() and "ResourceNotFound" not in response.body.decode()


def test_cors_preflight_needs_no_token(api):
    response = api.as_token(None).request("OPTIONS", "/crm/records", headers={"Origin": "https://app.example"})
    assert response.status == 204
    assert "Authorization" in response.headers.get("Access-Control-Allow-Headers", "")


def test_a_failing_rate_limit_check_is_a_500_in_the_documented_format(account, table):
    boto3.client("dynamodb").delete_table(TableName=table)
    authorizer = {"accountId": account["accountId"], "userId": account["userId"], "role": "admin",
                  "tokenId": account["tokenId"], "principalId": account["userId"]}

    response = invoke_handler(ROUTE_GROUP_HANDLERS["records"], proxy_event("GET", "/crm/records",
                                                                           authorizer=authorizer))

    assert response["statusCode"] == 500
    assert json.loads(response["body"])["error"] == "Internal Server Error"
