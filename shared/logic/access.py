"""Who may see and touch what: tenant boundaries and member kanban access."""

from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.models.domain import Kanban, Principal
from shared.repository import accounts, kanbans


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("this operation needs an admin token")


def accessible_kanban_ids(principal: Principal) -> frozenset[str] | None:
    """The kanbans a member may use; None for an admin, who may use all of them."""
    if principal.is_admin:
        return None
    user = accounts.find_user(principal.account_id, principal.user_id)
    return frozenset(user.kanban_ids) if user else frozenset()


def can_use(allowed: frozenset[str] | None, kanban_id: str) -> bool:
    return allowed is None or kanban_id in allowed


def require_kanban_access(principal: Principal, kanban_id: str) -> None:
    if not can_use(accessible_kanban_ids(principal), kanban_id):
        raise Forbidden(f"you have no access to kanban {kanban_id}")


def get_kanban(principal: Principal, kanban_id: str | None) -> Kanban:
    """The kanban the caller names, or the account's default one; 404 across accounts, 403 without access."""
    if kanban_id is None:
        kanban_id = accounts.get_account(principal.account_id).default_kanban_id
        if kanban_id is None:
            raise ValidationFailed("the account has no default kanban; pass kanbanId")
    kanban = kanbans.find_kanban(principal.account_id, kanban_id)
    if kanban is None:
        raise NotFound(f"kanban {kanban_id} not found")
    require_kanban_access(principal, kanban.kanban_id)
    return kanban
