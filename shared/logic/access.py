"""Who may see and touch what: tenant boundaries and member kanban access."""

from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from shared.errors import Forbidden, NotFound, ValidationFailed
from shared.models.domain import Kanban, Principal, StatusValue
from shared.repository import accounts, kanbans

_status_value = TypeAdapter(StatusValue)


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("this operation needs an admin token")


@dataclass(frozen=True)
class Scope:
    """The kanbans one caller may use, read once per request: every kanban of the account for an
    admin, the member's own list for a member."""

    principal: Principal
    kanban_ids: frozenset[str] | None  # None: every kanban of the account

    @classmethod
    def of(cls, principal: Principal) -> "Scope":
        if principal.is_admin:
            return cls(principal, None)
        user = accounts.find_user(principal.account_id, principal.user_id)
        return cls(principal, frozenset(user.kanban_ids) if user else frozenset())

    def allows(self, kanban_id: str) -> bool:
        return self.kanban_ids is None or kanban_id in self.kanban_ids

    def require(self, kanban_id: str) -> None:
        if not self.allows(kanban_id):
            raise Forbidden(f"you have no access to kanban {kanban_id}")

    def kanban(self, kanban_id: str | None) -> Kanban:
        """The kanban named, or the account's default one; 404 across accounts, 403 without access."""
        account_id = self.principal.account_id
        if kanban_id is None:
            kanban_id = accounts.get_account(account_id).default_kanban_id
            if kanban_id is None:
                raise ValidationFailed("the account has no default kanban; pass kanbanId")
        kanban = kanbans.find_kanban(account_id, kanban_id)
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
