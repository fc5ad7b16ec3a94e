"""Bearer-token auth, tenant isolation, users and tokens, and crm-admin bootstrap."""

import json
import os

import boto3
import pytest

from shared.admin_cli import main as crm_admin
from shared.local.events import token_authorizer_event
from shared.local.gateway import invoke_handler
from shared.logic.admin import bootstrap_account
from shared.repository.table import dynamodb_client
from shared.routes import AUTHORIZER_HANDLER


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer crm_token_1_x.wrong", "Bearer nonsense",
    "token-without-scheme",
])
def test_missing_malformed_or_unknown_tokens_are_401(api, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = api.as_token(None).get("/crm/records", headers=headers)
    assert response.status == 401
    assert response.json()["error"] == "Unauthorized"


def test_a_right_token_id_with_a_wrong_secret_is_401(api, account):
    token_id = account["token"].split(".")[0]
    assert api.as_token(f"{token_id}.{'A' * 43}").get("/kanbans").status == 401


def test_revoked_tokens_are_401(api, account):
    created = api.post("/tokens", {"userId": account["userId"], "name": "ci"}).json()
    assert api.as_token(created["token"]).get("/kanbans").status == 200

    response = api.delete(f"/tokens/{created['tokenId']}")

    assert response.status == 200 and response.json()["token"]["revokedAt"]
    assert api.as_token(created["token"]).get("/kanbans").status == 401


def test_token_secrets_are_shown_once_and_stored_only_hashed(api, account, table):
    created = api.post("/tokens", {"userId": account["userId"], "name": "zapier"})
    assert created.status == 201
    secret = created.json()["token"].split(".")[1]

    listed = api.get("/tokens").json()["items"]

    assert [t["name"] for t in listed] == ["zapier", "bootstrap admin token"]
    assert all("token" not in t and "secretHash" not in t for t in listed)
    stored = json.dumps(boto3.client("dynamodb").scan(TableName=table)["Items"])
    assert secret not in stored and account["token"].split(".")[1] not in stored


def test_tokens_cannot_be_created_for_unknown_users_or_revoked_across_accounts(api):
    assert api.post("/tokens", {"userId": "user_ghost"}).status == 404
    other = bootstrap_account("Other", "Olga", "olga@example.com")
    assert api.delete(f"/tokens/{other['tokenId']}").status == 404
    assert api.as_token(other["token"]).get("/kanbans").status == 200


def test_accounts_never_see_each_others_data(api, account):
    other = api.as_token(bootstrap_account("Other", "Olga", "olga@example.com")["token"])
    record = api.post("/crm/records", {"title": "Acme secret", "channelId": "c1"}).json()

    assert other.get(f"/crm/records/{record['recordId']}").status == 404
    assert other.put(f"/crm/records/{record['recordId']}", {"title": "pwned"}).status == 404
    assert other.delete(f"/crm/records/{record['recordId']}").status == 404
    assert other.get(f"/kanbans/{account['kanbanId']}").status == 404
    assert other.get("/crm/records", query={"kanbanId": account["kanbanId"]}).status == 404
    assert other.get("/crm/records").json()["items"] == []
    assert other.post("/crm/records", {"title": "x"}, query={"kanbanId": account["kanbanId"]}).status == 404
    assert other.get(f"/users/{account['userId']}").status == 404
    # Its own record with the same channelId is its own.
    assert other.post("/crm/records", {"title": "mine", "channelId": "c1"}).status == 201
    assert api.get(f"/crm/records/{record['recordId']}").json()["title"] == "Acme secret"


def test_users_create_list_get_update(api, account, board):
    created = api.post("/users", {"name": "Sam", "email": "sam@example.com", "kanbanIds": [board["id"]]})
    assert created.status == 201
    user = created.json()
    assert user["role"] == "member" and user["kanbanIds"] == [board["id"]]

    assert [u["name"] for u in api.get("/users").json()["items"]] == ["Ada Admin", "Sam"]
    assert api.get(f"/users/{user['userId']}").json() == user
    updated = api.put(f"/users/{user['userId']}", {"role": "admin", "kanbanIds": []}).json()
    assert updated["role"] == "admin" and updated["kanbanIds"] == []
    assert api.post("/users", {"name": "X", "email": "bad"}).status == 400
    assert api.post("/users", {"name": "X", "email": "x@example.com", "kanbanIds": ["kanban_nope"]}).status == 400
    assert api.put(f"/users/{account['userId']}", {"role": "member"}).status == 400


def test_crm_admin_bootstrap_prints_a_working_account(api, capsys):
    environment = dict(os.environ)
    exit_code = crm_admin(["bootstrap", "--account-name", "Globex", "--table-name", "crm-test"])

    assert exit_code == 0
    assert dict(os.environ) == environment  # its settings come from its options, not the environment
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) >= {"accountId", "userId", "token"}
    dynamodb_client.cache_clear()
    globex = api.as_token(printed["token"])
    kanbans = globex.get("/kanbans").json()["items"]
    assert [k["name"] for k in kanbans] == ["Sales Pipeline"] and kanbans[0]["isDefault"]
    assert globex.get("/users").json()["items"][0]["role"] == "admin"


def test_bootstrap_with_a_usage_plan_gives_the_account_its_key(table, capsys):
    gateway = boto3.client("apigateway")
    plan = gateway.create_usage_plan(name="crm", throttle={"rateLimit": 20, "burstLimit": 40})

    exit_code = crm_admin(["bootstrap", "--account-name", "Metered", "--table-name", "crm-test",
                           "--usage-plan-id", plan["id"]])

    assert exit_code == 0
    account_id = json.loads(capsys.readouterr().out)["accountId"]
    [key] = gateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
    stored = gateway.get_api_key(apiKey=key["id"], includeValue=True)
    assert stored["enabled"] and stored["customerId"] == account_id and stored["name"] == f"crm-{account_id}"


def test_the_authorizer_returns_the_principal_and_the_usage_key(table, account, capsys):
    gateway = boto3.client("apigateway")
    plan = gateway.create_usage_plan(name="crm")
    assert crm_admin(["usage-plan", "--account-id", account["accountId"], "--usage-plan-id", plan["id"],
                      "--table-name", "crm-test"]) == 0
    key_id = gateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"][0]["id"]
    key_value = gateway.get_api_key(apiKey=key_id, includeValue=True)["value"]

    policy = invoke_handler(AUTHORIZER_HANDLER, token_authorizer_event(f"Bearer {account['token']}", "GET", "/kanbans"))

    assert policy["usageIdentifierKey"] == key_value
    assert policy["principalId"] == account["userId"]
    assert policy["context"] == {"accountId": account["accountId"], "userId": account["userId"], "role": "admin",
                                 "tokenId": account["tokenId"]}
    [statement] = policy["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Resource"][0].endswith("/local/*/*")
