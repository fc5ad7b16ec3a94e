"""Rights are decided with current data on every request, even while the gateway still holds the
authorizer's cached answer for a token: revocation, demotion, a change of kanban access and the
deletion of a user take effect on the very next request."""

from collections import Counter

import pytest

from shared.errors import Conflict
from shared.local.gateway import ApiGatewayEmulator, invoke_handler
from shared.repository import accounts
from shared.repository.table import dynamodb_client
from shared.routes import AUTHORIZER_CACHE_SECONDS
from tests.integration.conftest import Api, create_member


@pytest.fixture
def cached(table, account) -> Api:
    """The API behind a gateway that caches authorizer results as API Gateway does."""
    return Api(ApiGatewayEmulator(invoke_handler, authorizer_cache_seconds=AUTHORIZER_CACHE_SECONDS),
               account["token"])


def second_admin(api: Api) -> tuple[dict, str]:
    user = api.post("/users", {"name": "Bea Admin", "email": "bea@example.com", "role": "admin"}).json()
    token = api.post("/tokens", {"userId": user["userId"], "name": "bea"}).json()["token"]
    return user, token


def test_a_demoted_admin_cannot_promote_themselves_back(cached):
    bea, bea_token = second_admin(cached)
    assert cached.as_token(bea_token).get("/users").status == 200  # the gateway now caches Bea as admin

    assert cached.put(f"/users/{bea['userId']}", {"role": "member"}).status == 200
    response = cached.as_token(bea_token).put(f"/users/{bea['userId']}", {"role": "admin"})

    assert response.status == 403
    assert cached.get(f"/users/{bea['userId']}").json()["role"] == "member"


def test_a_revoked_token_cannot_mint_another(cached, account):
    spare = cached.post("/tokens", {"userId": account["userId"], "name": "spare"}).json()
    assert cached.as_token(spare["token"]).get("/kanbans").status == 200  # cached as valid

    assert cached.delete(f"/tokens/{spare['tokenId']}").status == 200
    minted = cached.as_token(spare["token"]).post("/tokens", {"userId": account["userId"], "name": "backdoor"})

    assert minted.status == 401
    assert minted.json() == {"error": "Unauthorized", "message": "this API token has been revoked"}
    names = [t["name"] for t in cached.get("/tokens").json()["items"]]
    assert "backdoor" not in names
    assert cached.as_token(spare["token"]).get("/kanbans").status == 401


def test_a_members_kanban_access_changes_at_once(cached, board):
    member, token = create_member(cached, [board["id"]])
    as_member = cached.as_token(token)
    assert as_member.get("/crm/records", query={"kanbanId": board["id"]}).status == 200

    assert cached.put(f"/users/{member['userId']}", {"kanbanIds": []}).status == 200

    assert as_member.get("/crm/records", query={"kanbanId": board["id"]}).status == 403
    assert as_member.post("/crm/records", {"title": "sneaky"}, query={"kanbanId": board["id"]}).status == 403


def test_deleting_a_user_revokes_their_tokens_at_once_and_keeps_their_records(cached, board):
    member, token = create_member(cached, [board["id"]])
    second_token = cached.post("/tokens", {"userId": member["userId"], "name": "second"}).json()
    record = cached.as_token(token).post("/crm/records", {"title": "Mia's lead"}, query={"kanbanId": board["id"]})
    assert record.status == 201

    deleted = cached.delete(f"/users/{member['userId']}")

    assert deleted.status == 200
    assert deleted.json()["message"] == "User deleted successfully"
    assert sorted(deleted.json()["revokedTokenIds"]) == sorted(
        [t["tokenId"] for t in cached.get("/tokens").json()["items"] if t["userId"] == member["userId"]]
    )
    for bearer in (token, second_token["token"]):
        assert cached.as_token(bearer).get("/kanbans").status == 401
    assert all(t["revokedAt"] for t in cached.get("/tokens").json()["items"] if t["userId"] == member["userId"])
    assert cached.get(f"/users/{member['userId']}").status == 404
    kept = cached.get(f"/crm/records/{record.json()['recordId']}").json()
    assert kept["createdBy"] == member["userId"] and kept["updatedBy"] == member["userId"]


def test_who_may_delete_whom(cached, account, board):
    member, member_token = create_member(cached, [board["id"]])
    bea, _ = second_admin(cached)

    assert cached.as_token(member_token).delete(f"/users/{bea['userId']}").status == 403
    own = cached.delete(f"/users/{account['userId']}")
    assert own.status == 409 and "yourself" in own.json()["message"]
    assert cached.delete("/users/user_nobody").status == 404
    assert cached.delete(f"/users/{bea['userId']}").status == 200


def test_an_admin_demoted_meanwhile_cannot_delete_the_last_admin(account, table):
    """The acting admin's role is checked in the deletion's own transaction, so two admins removing
    each other at the same moment cannot leave the account without one."""
    bea = accounts.get_user(account["accountId"], account["userId"]).model_copy(
        update={"user_id": "user_bea", "role": "admin"})
    accounts.put_user(bea, must_exist=False)
    ada = accounts.get_user(account["accountId"], account["userId"])
    accounts.put_user(ada.model_copy(update={"role": "member"}), must_exist=True)

    with pytest.raises(Conflict):
        accounts.delete_user(account["accountId"], "user_bea", acting_admin_id=ada.user_id)
    assert accounts.find_user(account["accountId"], "user_bea") is not None


def test_confirming_the_caller_costs_one_batch_read_besides_the_rate_limit_write(cached, board):
    member, token = create_member(cached, [board["id"]])
    record = cached.post("/crm/records", {"title": "x"}, query={"kanbanId": board["id"]}).json()
    as_member = cached.as_token(token)
    assert as_member.get("/kanbans").status == 200  # the authorizer's answer is cached from here on
    calls: Counter[str] = Counter()
    dynamodb_client().meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))

    assert as_member.get(f"/crm/records/{record['recordId']}").status == 200

    # The token, user and account in one BatchGetItem; the rate-limit counter; the record itself.
    assert calls == Counter({"BatchGetItem": 1, "UpdateItem": 1, "GetItem": 1})
