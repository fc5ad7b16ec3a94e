"""Accounts, their users and their API tokens."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from shared.errors import Conflict, NotFound
from shared.models.domain import Account, ApiToken, Page, User
from shared.repository import dynamo, keys
from shared.repository.table import LIST_SORT_KEY


def _account(item: dict[str, Any]) -> Account:
    return Account(
        account_id=item["accountId"],
        name=item["name"],
        default_kanban_id=item.get("defaultKanbanId"),
        created_at=item["createdAt"],
        usage_key=item.get("usageKey"),
        rate_limit_per_minute=item.get("rateLimitPerMinute"),
        rate_limit_per_hour=item.get("rateLimitPerHour"),
    )


def _user(item: dict[str, Any]) -> User:
    return User(
        user_id=item["userId"],
        account_id=item["accountId"],
        name=item["name"],
        email=item["email"],
        role=item["role"],
        kanban_ids=tuple(item.get("kanbanIds", [])),
        created_at=item["createdAt"],
        updated_at=item["updatedAt"],
    )


def _token(item: dict[str, Any]) -> ApiToken:
    return ApiToken(
        token_id=item["tokenId"],
        account_id=item["accountId"],
        user_id=item["userId"],
        name=item["name"],
        secret_hash=item["secretHash"],
        created_at=item["createdAt"],
        revoked_at=item.get("revokedAt"),
    )


def create_account(account: Account) -> None:
    item = {
        "PK": keys.account_pk(account.account_id),
        "SK": keys.ACCOUNT_SK,
        "accountId": account.account_id,
        "name": account.name,
        "defaultKanbanId": account.default_kanban_id,
        "createdAt": account.created_at,
    }
    registry = {"PK": keys.ACCOUNT_REGISTRY_PK, "SK": account.account_id, "accountId": account.account_id}
    dynamo.transact([
        dynamo.Write(dynamo.put(item, "attribute_not_exists(PK)"), Conflict(f"account {account.account_id} exists")),
        dynamo.Write(dynamo.put(registry)),
    ])


def list_account_ids() -> list[str]:
    return [item["accountId"] for item in dynamo.query_all(keys.ACCOUNT_REGISTRY_PK)]


def set_usage_key(account_id: str, key_value: str) -> None:
    dynamo.transact([dynamo.Write(
        dynamo.update(keys.account_pk(account_id), keys.ACCOUNT_SK, "SET usageKey = :k", "attribute_exists(PK)",
                      values={":k": key_value}),
        NotFound(f"account {account_id} not found"),
    )])


def get_account(account_id: str) -> Account:
    item = dynamo.get(keys.account_pk(account_id), keys.ACCOUNT_SK)
    if item is None:
        raise NotFound(f"account {account_id} not found")
    return _account(item)


def put_user(user: User, *, must_exist: bool, acting_admin_id: str | None = None) -> None:
    """Write a user; with acting_admin_id, only while that admin still is one (checked atomically)."""
    item = {
        "PK": keys.account_pk(user.account_id),
        "SK": keys.user_sk(user.user_id),
        "userId": user.user_id,
        "accountId": user.account_id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "kanbanIds": list(user.kanban_ids),
        "createdAt": user.created_at,
        "updatedAt": user.updated_at,
    }
    condition = "attribute_exists(PK)" if must_exist else "attribute_not_exists(PK)"
    failure = NotFound(f"user {user.user_id} not found") if must_exist else Conflict("user already exists")
    writes = [dynamo.Write(dynamo.put(item, condition), failure)]
    if acting_admin_id is not None and acting_admin_id != user.user_id:
        writes.append(_still_admin(user.account_id, acting_admin_id))
    dynamo.transact(writes)


def find_user(account_id: str, user_id: str) -> User | None:
    item = dynamo.get(keys.account_pk(account_id), keys.user_sk(user_id))
    return _user(item) if item else None


def get_user(account_id: str, user_id: str) -> User:
    user = find_user(account_id, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def existing_user_ids(account_id: str, user_ids: list[str]) -> set[str]:
    found = dynamo.batch_get((keys.account_pk(account_id), keys.user_sk(u)) for u in user_ids)
    return {item["userId"] for item in found.values()}


def list_users(account_id: str, limit: int, cursor: dict[str, Any] | None) -> Page:
    items, last = dynamo.query(
        partition=keys.account_pk(account_id), sort_prefix=keys.USER_PREFIX, limit=limit, start_key=cursor
    )
    return Page(items=tuple(_user(i) for i in items), cursor=last)


def create_token(token: ApiToken) -> None:
    item = {
        "PK": keys.token_pk(token.token_id),
        "SK": keys.TOKEN_SK,
        "GSI1PK": keys.tokens_scope(token.account_id),
        LIST_SORT_KEY: keys.created_sort_key(token.created_at, token.token_id),
        "tokenId": token.token_id,
        "accountId": token.account_id,
        "userId": token.user_id,
        "name": token.name,
        "secretHash": token.secret_hash,
        "createdAt": token.created_at,
    }
    user_exists = dynamo.condition_check(
        keys.account_pk(token.account_id), keys.user_sk(token.user_id), "attribute_exists(PK)"
    )
    dynamo.transact([
        dynamo.Write(user_exists, NotFound(f"user {token.user_id} not found")),
        dynamo.Write(dynamo.put(item, "attribute_not_exists(PK)"), Conflict("token id collision")),
    ])


@dataclass(frozen=True)
class Credentials:
    """What decides a caller's rights, as the table holds it now; None for what does not exist."""

    token: ApiToken | None
    user: User | None
    account: Account | None


def credentials(account_id: str, user_id: str, token_id: str | None = None) -> Credentials:
    """The user and account (and the token, when given) in one strongly consistent batch read."""
    wanted = {"user": (keys.account_pk(account_id), keys.user_sk(user_id)),
              "account": (keys.account_pk(account_id), keys.ACCOUNT_SK)}
    if token_id is not None:
        wanted["token"] = (keys.token_pk(token_id), keys.TOKEN_SK)
    found = dynamo.batch_get(wanted.values())
    token, user, account = (found.get(wanted.get(name, ("", ""))) for name in ("token", "user", "account"))
    return Credentials(token=_token(token) if token else None, user=_user(user) if user else None,
                       account=_account(account) if account else None)


def tokens_of_user(account_id: str, user_id: str) -> Iterator[ApiToken]:
    """Every token of one user, revoked ones included (reads the account's token list page by page)."""
    cursor: dict[str, Any] | None = None
    while True:
        page = list_tokens(account_id, 100, cursor)
        yield from (t for t in page.items if t.user_id == user_id)
        if page.cursor is None:
            return
        cursor = page.cursor


def _still_admin(account_id: str, user_id: str) -> dynamo.Write:
    return dynamo.Write(
        dynamo.condition_check(keys.account_pk(account_id), keys.user_sk(user_id), "#r = :admin",
                               names={"#r": "role"}, values={":admin": "admin"}),
        Conflict("this change would leave the account without an admin"),
    )


def delete_user(account_id: str, user_id: str, acting_admin_id: str) -> None:
    """Delete a user, in one transaction with the check that the acting admin still is one, so an
    account always keeps an admin however admins change each other concurrently."""
    dynamo.transact([
        dynamo.Write(dynamo.delete(keys.account_pk(account_id), keys.user_sk(user_id), "attribute_exists(PK)"),
                     NotFound(f"user {user_id} not found")),
        _still_admin(account_id, acting_admin_id),
    ])


def find_token(token_id: str) -> ApiToken | None:
    item = dynamo.get(keys.token_pk(token_id), keys.TOKEN_SK)
    return _token(item) if item else None


def list_tokens(account_id: str, limit: int, cursor: dict[str, Any] | None) -> Page:
    entries, last = dynamo.query(
        index="GSI1", partition_attribute="GSI1PK", partition=keys.tokens_scope(account_id),
        limit=limit, start_key=cursor, newest_first=True,
    )
    found = dynamo.batch_get((e["PK"], e["SK"]) for e in entries)
    tokens = [_token(found[(e["PK"], e["SK"])]) for e in entries if (e["PK"], e["SK"]) in found]
    return Page(items=tuple(tokens), cursor=last)


def revoke_token(account_id: str, token_id: str, at_ms: int) -> ApiToken:
    dynamo.transact([dynamo.Write(
        dynamo.update(
            keys.token_pk(token_id), keys.TOKEN_SK, "SET revokedAt = if_not_exists(revokedAt, :now)",
            "attribute_exists(PK) AND accountId = :account",
            values={":now": at_ms, ":account": account_id},
        ),
        NotFound(f"token {token_id} not found"),
    )])
    token = find_token(token_id)
    assert token is not None
    return token
