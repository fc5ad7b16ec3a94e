"""Reading what the events consumer recorded: a record's history and the account's change feed,
confined to the caller's account and accessible kanbans."""

from shared.errors import ValidationFailed
from shared.ids import now_ms
from shared.logic import access
from shared.models.domain import ChangeFeedPage, FeedEntry, Listing, Principal
from shared.pagination import decode_token, encode_token
from shared.repository import changes as repository

# Reads of the feed one request makes at most (entries of other kanbans are skipped, not answered).
FEED_ROUNDS = 5
# A missing sequence number before an entry recorded less than this long ago is a transaction still
# committing: the answer stops before it and the next poll gets it. Before an older entry it was
# removed by retention (TTL), and the feed goes on past it.
GAP_GRACE_MS = 60_000


def history(principal: Principal, record_id: str, limit: int, next_token: str | None) -> Listing:
    """A record's history, newest first; 404 across accounts and for a record without history, 403 for a
    member without access to its kanban."""
    token_scope = f"history|{principal.account_id}|{record_id}"
    page = repository.history_page(principal.account_id, record_id, limit, decode_token(next_token, token_scope))
    scope = access.Scope.of(principal)
    for entry in page.items:
        scope.require(entry.kanban_id)
    return Listing(items=page.items, next_token=encode_token(page.cursor, token_scope))


def _feed_scope(principal: Principal, kanban_id: str | None) -> str:
    return f"changes|{principal.account_id}|{kanban_id or ''}"


def _position(since: str | None, token_scope: str) -> int:
    try:
        cursor = decode_token(since, token_scope)
    except ValidationFailed:
        raise ValidationFailed("since is invalid or belongs to another query (another account or kanbanId)") from None
    if cursor is None:
        return 0
    after = cursor.get("after")
    if not isinstance(after, int) or after < 0:
        raise ValidationFailed("since is invalid or belongs to another query")
    return after


def list_changes(principal: Principal, since: str | None, kanban_id: str | None, limit: int) -> ChangeFeedPage:
    """The account's changes after the cursor `since`, in feed order, only of the kanbans the caller may
    see (and of `kanban_id` if given). The cursor moves past every entry read, shown or not; it stops
    before a gap that may be a write still committing (GAP_GRACE_MS), so no change is ever skipped."""
    scope = access.Scope.of(principal)
    if kanban_id is not None:
        scope.kanban(kanban_id)  # 404 for another account's or unknown kanban, 403 without access
    token_scope = _feed_scope(principal, kanban_id)
    after = _position(since, token_scope)
    found: list[FeedEntry] = []
    now = now_ms()
    for _ in range(FEED_ROUNDS):
        entries = repository.feed_entries(principal.account_id, after, limit)
        stopped = False
        for entry in entries:
            if entry.sequence != after + 1 and now - entry.recorded_at < GAP_GRACE_MS:
                stopped = True
                break
            after = entry.sequence
            if (kanban_id is None or entry.kanban_id == kanban_id) and scope.allows(entry.kanban_id):
                found.append(entry)
                if len(found) == limit:
                    stopped = True
                    break
        if stopped or len(entries) < limit:
            break
    return ChangeFeedPage(items=tuple(found), next_token=encode_token({"after": after}, token_scope) or "")

