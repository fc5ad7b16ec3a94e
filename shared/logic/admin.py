"""Account administration: users, API tokens and bootstrapping a new account."""

import secrets
from typing import Any

from shared import usage_plans
from shared.errors import Conflict, ValidationFailed
from shared.ids import new_id, now_ms
from shared.logic import access
from shared.logic.kanbans import create_kanban, refuse_read_only_changes
from shared.models.api import (
    CreateKanbanRequest,
    CreateTokenRequest,
    CreateUserRequest,
    UpdateUserRequest,
    UserResponse,
    read_only_changes,
)
from shared.models.domain import Account, ApiToken, IssuedToken, Listing, Principal, User, UserDeletion
from shared.pagination import decode_token, encode_token
from shared.repository import accounts, kanbans


def _check_kanbans_exist(account_id: str, kanban_ids: list[str]) -> tuple[str, ...]:
    unique = list(dict.fromkeys(kanban_ids))
    unknown = [k for k in unique if kanbans.find_kanban(account_id, k) is None]
    if unknown:
        raise ValidationFailed(f"kanbanIds: {', '.join(unknown)} not kanbans of this account")
    return tuple(unique)


def create_user(principal: Principal, request: CreateUserRequest) -> User:
    access.require_admin(principal)
    created_at = now_ms()
    user = User(
        user_id=new_id("user", created_at),
        account_id=principal.account_id,
        name=request.name,
        email=request.email,
        role=request.role,
        kanban_ids=_check_kanbans_exist(principal.account_id, request.kanbanIds),
        created_at=created_at,
        updated_at=created_at,
    )
    accounts.put_user(user, must_exist=False, acting_admin_id=principal.user_id)
    return user


def get_user(principal: Principal, user_id: str) -> User:
    access.require_admin(principal)
    return accounts.get_user(principal.account_id, user_id)


def update_user(principal: Principal, user_id: str, request: UpdateUserRequest) -> User:
    """Also takes back a user as GET answered it: its read-only values must be the current ones."""
    access.require_admin(principal)
    user = accounts.get_user(principal.account_id, user_id)
    refuse_read_only_changes(read_only_changes(request, UserResponse.model_validate(user).model_dump()))
    changes: dict[str, Any] = {"updated_at": max(now_ms(), user.updated_at)}
    for attribute, value in (("name", request.name), ("email", request.email), ("role", request.role)):
        if value is not None:
            changes[attribute] = value
    if request.kanbanIds is not None:
        changes["kanban_ids"] = _check_kanbans_exist(principal.account_id, request.kanbanIds)
    if user_id == principal.user_id and changes.get("role") == "member":
        raise ValidationFailed("role: you cannot demote yourself; ask another admin")
    updated = user.model_copy(update=changes)
    accounts.put_user(updated, must_exist=True, acting_admin_id=principal.user_id)
    return updated


def delete_user(principal: Principal, user_id: str) -> UserDeletion:
    """Delete a user and revoke their tokens. Their records keep createdBy/updatedBy. The user's
    tokens stop working with the deletion itself (every request checks that its user exists); the
    tokens are then marked revoked so the token list says so."""
    access.require_admin(principal)
    if user_id == principal.user_id:
        raise Conflict("you cannot delete yourself; ask another admin")
    user = accounts.get_user(principal.account_id, user_id)
    accounts.delete_user(principal.account_id, user_id, acting_admin_id=principal.user_id)
    at = now_ms()
    revoked = [accounts.revoke_token(principal.account_id, t.token_id, at).token_id
               for t in accounts.tokens_of_user(principal.account_id, user_id) if t.revoked_at is None]
    return UserDeletion(user=user, revoked_token_ids=tuple(revoked))


def list_users(principal: Principal, limit: int, next_token: str | None) -> Listing:
    access.require_admin(principal)
    scope = f"users|{principal.account_id}"
    page = accounts.list_users(principal.account_id, limit, decode_token(next_token, scope))
    return Listing(items=page.items, next_token=encode_token(page.cursor, scope))


def issue_token(account_id: str, user_id: str, name: str) -> IssuedToken:
    """Create a token; it carries its Bearer string, which is never stored or shown again."""
    secret = secrets.token_urlsafe(32)
    token = ApiToken(
        token_id=new_id("token"),
        account_id=account_id,
        user_id=user_id,
        name=name,
        secret_hash=access.hash_secret(secret),
        created_at=now_ms(),
    )
    accounts.create_token(token)
    return IssuedToken(**token.model_dump(), bearer=f"{access.TOKEN_PREFIX}{token.token_id}.{secret}")


def create_token(principal: Principal, request: CreateTokenRequest) -> IssuedToken:
    access.require_admin(principal)
    return issue_token(principal.account_id, request.userId, request.name)


def list_tokens(principal: Principal, limit: int, next_token: str | None) -> Listing:
    access.require_admin(principal)
    scope = f"tokens|{principal.account_id}"
    page = accounts.list_tokens(principal.account_id, limit, decode_token(next_token, scope))
    return Listing(items=page.items, next_token=encode_token(page.cursor, scope))


def revoke_token(principal: Principal, token_id: str) -> ApiToken:
    access.require_admin(principal)
    return accounts.revoke_token(principal.account_id, token_id, now_ms())


def attach_usage_plan(account_id: str, usage_plan_id: str) -> dict[str, Any]:
    """Give the account its API key in the deployed API's usage plan."""
    accounts.get_account(account_id)
    accounts.set_usage_key(account_id, usage_plans.create_account_key(account_id, usage_plan_id))
    return {"accountId": account_id, "usagePlanId": usage_plan_id}


def bootstrap_account(account_name: str, admin_name: str, admin_email: str,
                      usage_plan_id: str | None = None) -> dict[str, Any]:
    """Create an account with its admin user, a default kanban and an admin token (and, for a deployed
    API, its usage-plan key)."""
    created_at = now_ms()
    account = Account(
        account_id=new_id("account", created_at), name=account_name, default_kanban_id=None, created_at=created_at
    )
    accounts.create_account(account)
    admin = User(
        user_id=new_id("user", created_at), account_id=account.account_id, name=admin_name, email=admin_email,
        role="admin", kanban_ids=(), created_at=created_at, updated_at=created_at,
    )
    accounts.put_user(admin, must_exist=False)
    principal = Principal(account_id=account.account_id, user_id=admin.user_id, role="admin", token_id="bootstrap")
    kanban = create_kanban(principal, CreateKanbanRequest(name="Sales Pipeline", isDefault=True))
    token = issue_token(account.account_id, admin.user_id, "bootstrap admin token")
    if usage_plan_id:
        attach_usage_plan(account.account_id, usage_plan_id)
    return {
        "accountId": account.account_id,
        "userId": admin.user_id,
        "kanbanId": kanban.kanban_id,
        "tokenId": token.token_id,
        "token": token.bearer,
    }

