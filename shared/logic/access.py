"""Who is calling (the Bearer token, confirmed against current data) and what they may see and touch:
tenant boundaries and member kanban access."""

import hashlib
import hmac
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from shared.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from shared.logic import shared_reads
from shared.models.domain import Account, ApiToken, Kanban, Principal, StatusValue
from shared.repository import accounts

_status_value = TypeAdapter(StatusValue)
# What a token's bearer string starts with: "crm_<token id>.<secret>".
TOKEN_PREFIX = "crm_"


def hash_secret(secret: str) -> str:
    # Secrets are 256 random bits, so a plain SHA-256 is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def confirm(claimed: Principal, token: ApiToken | None = None) -> tuple[Principal, Account]:
    """The caller as the table holds it now, from what the authorizer claimed.

    The authorizer's result is cached by the gateway, so it only identifies the token; whether the
    token is still valid and what its user may do is decided here on every request: a revoked token,
    a deleted user, a demotion or a change of kanban access takes effect on the very next request.
    One batch read, or (with the token already read, as the authorizer has it) one for user and account.
    """
    now = accounts.credentials(claimed.account_id, claimed.user_id, None if token else claimed.token_id)
    token, user = token or now.token, now.user
    if token is None or (token.account_id, token.user_id) != (claimed.account_id, claimed.user_id):
        raise Unauthorized("invalid API token")
    if token.revoked_at is not None:
        raise Unauthorized("this API token has been revoked")
    if user is None or now.account is None:
        raise Unauthorized("the user of this API token no longer exists")
    principal = Principal(account_id=user.account_id, user_id=user.user_id, role=user.role,
                          token_id=token.token_id, kanban_ids=frozenset(user.kanban_ids))
    return principal, now.account


def authenticate(authorization: str | None) -> tuple[Principal, Account]:
    """Resolve an Authorization header to the calling principal and its account (two reads: the
    token, then its user and account together); any failure is a 401."""
    scheme, _, bearer = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not bearer.strip():
        raise Unauthorized("missing or malformed Authorization header; expected 'Bearer <token>'")
    token_id, _, secret = bearer.strip().removeprefix(TOKEN_PREFIX).partition(".")
    token = accounts.find_token(token_id) if token_id and secret else None
    if token is None or not hmac.compare_digest(token.secret_hash, hash_secret(secret)):
        raise Unauthorized("invalid API token")
    claimed = Principal(account_id=token.account_id, user_id=token.user_id, role="member", token_id=token.token_id)
    return confirm(claimed, token)


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("this operation needs an admin token")


@dataclass(frozen=True)
class Scope:
    """The kanbans one caller may use: every kanban of the account for an admin, the member's own
    list (as confirmed for this request) for a member."""

    principal: Principal
    kanban_ids: frozenset[str] | None  # None: every kanban of the account

    @classmethod
    def of(cls, principal: Principal) -> "Scope":
        return cls(principal, None if principal.is_admin else principal.kanban_ids)

    def allows(self, kanban_id: str) -> bool:
        return self.kanban_ids is None or kanban_id in self.kanban_ids

    def require(self, kanban_id: str) -> None:
        if not self.allows(kanban_id):
            raise Forbidden(f"you have no access to kanban {kanban_id}")

    def kanban(self, kanban_id: str | None) -> Kanban:
        """The kanban named, or the account's default one; 404 across accounts, 403 without access."""
        account_id = self.principal.account_id
        if kanban_id is None:
            kanban_id = shared_reads.account(account_id).default_kanban_id
            if kanban_id is None:
                raise ValidationFailed("the account has no default kanban; pass kanbanId")
        kanban = shared_reads.kanban(account_id, kanban_id)
        if kanban is None:
            raise NotFound(f"kanban {kanban_id} not found")
        self.require(kanban.kanban_id)
        return kanban


def check_status(status: str, kanban: Kanban | None) -> None:
    """A status must be one of the kanban's, or (a filter without a kanban) at least a valid value."""
    if kanban is not None and status not in kanban.status_values():
        raise ValidationFailed(
            f"status {status!r} is not a status of kanban {kanban.kanban_id}; "
            f"use one of: {', '.join(kanban.status_values())}"
        )
    try:
        _status_value.validate_python(status)
    except ValidationError:
        raise ValidationFailed(f"status {status!r} is not a valid status value") from None
