"""Every storage key format of the table, and nothing else: the only module that knows them."""

import hashlib
from dataclasses import dataclass

# Normalized values longer than this are indexed by digest (index keys are limited to 2 KB).
_MAX_INLINE_VALUE_BYTES = 512


# The first characters of every partition key, by kind of item. IAM policies use them (with the
# dynamodb:LeadingKeys condition) to grant each function only the partitions it works on.
PARTITION_PREFIXES = {
    "account": "ACCOUNT",  # ACCOUNT#<id>: account, users, kanbans, slugs; ACCOUNTS: the registry
    "token": "TOKEN#",
    "record": "RECORD#",  # a record with its assignment and field-value entries
    "channel": "CHANNEL#",
    "unique": "UNIQUE#",  # the lock of one value of a unique field in a kanban
    "counts": "COUNTS#",  # a kanban's records per status, kept by every record write
    "rate": "RATE#",  # request counters of the rate limiter
    # REPAIR#<account>: changes the search engine refused, to repair; REPAIRS: the index verifier's resume point
    "repair": "REPAIR",
    "history": "HISTORY#",  # HISTORY#<account>#<record>: a record's history, one entry per version
    "feed": "FEED#",  # FEED#<account>: the account's change feed, one entry per sequence number
    "feedseq": "FEEDSEQ#",  # FEEDSEQ#<account>: the last sequence number of the account's feed
    "webhook": "WEBHOOK#",  # WEBHOOK#<account>: the account's webhooks
    # DELIVERY#<account>#<webhook>: one webhook's deliveries (newest first) and its event-id locks
    "delivery": "DELIVERY#",
}


def account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


ACCOUNT_SK = "ACCOUNT"
# One partition lists every account (for operator tools such as reindexing).
ACCOUNT_REGISTRY_PK = "ACCOUNTS"
USER_PREFIX = "USER#"
KANBAN_PREFIX = "KANBAN#"
TOKEN_SK = "TOKEN"
RECORD_SK = "RECORD"
# A deleted record in the trash, in the record's own partition (with its TRASH_ASSIGNMENT_PREFIX entries;
# it carries deletedAt and deletedBy).
TRASH_SK = "TRASH"
CHANNEL_SK = "CHANNEL"
UNIQUE_SK = "UNIQUE"
ASSIGNMENT_PREFIX = "ASSIGN#"
TRASH_ASSIGNMENT_PREFIX = "TASSIGN#"
FIELD_VALUE_PREFIX = "FV#"
# What the sort keys of a trashed record's items (TRASH_SK, TRASH_ASSIGNMENT_PREFIX) and only those begin with.
TRASH_ITEMS_PREFIX = "T"
assert TRASH_SK.startswith(TRASH_ITEMS_PREFIX) and TRASH_ASSIGNMENT_PREFIX.startswith(TRASH_ITEMS_PREFIX)
assert not any(sk.startswith(TRASH_ITEMS_PREFIX) for sk in (RECORD_SK, ASSIGNMENT_PREFIX, FIELD_VALUE_PREFIX))


def rate_counter_key(account_id: str, hour_window: int) -> tuple[str, str]:
    """One counter item per account and hour window; it also holds that hour's per-minute counts."""
    return f"RATE#{account_id}#{hour_window}", "COUNTER"


def minute_count_attribute(minute_window: int) -> str:
    return f"m{minute_window}"


HOUR_COUNT_ATTRIBUTE = "hour"


def user_sk(user_id: str) -> str:
    return f"{USER_PREFIX}{user_id}"


def kanban_sk(kanban_id: str) -> str:
    return f"{KANBAN_PREFIX}{kanban_id}"


def kanban_counts_key(account_id: str, kanban_id: str) -> tuple[str, str]:
    return f"COUNTS#{account_id}#{kanban_id}", "COUNTS"


def status_count_attribute(status: str) -> str:
    return f"S#{status}"


def slug_sk(slug: str) -> str:
    return f"SLUG#{slug}"


def token_pk(token_id: str) -> str:
    return f"TOKEN#{token_id}"


def tokens_scope(account_id: str) -> str:
    return f"{account_id}#TOKENS"


def record_pk(account_id: str, record_id: str) -> str:
    return f"RECORD#{account_id}#{record_id}"


def assignment_sk(user_id: str) -> str:
    return f"{ASSIGNMENT_PREFIX}{user_id}"


def trash_assignment_sk(user_id: str) -> str:
    """A trashed record's entry for one of its assignees (lists the trash by assignedUserId)."""
    return f"{TRASH_ASSIGNMENT_PREFIX}{user_id}"


def channel_pk(account_id: str, kanban_id: str, channel_id: str) -> str:
    return f"CHANNEL#{account_id}#{kanban_id}#{channel_id}"


def unique_value_pk(account_id: str, kanban_id: str, field_id: str, normalized_value: str) -> str:
    """The lock of one normalized value of a unique field in a kanban (long values by digest)."""
    return f"UNIQUE#{account_id}#{kanban_id}#{field_id}#{_inline(normalized_value)}"


def created_sort_key(created_at: int, entity_id: str) -> str:
    return f"{created_at:013d}#{entity_id}"


def field_value_key(account_id: str, field_id: str, normalized_value: str) -> str:
    """Partition key of the field-value index: account + field + normalized value."""
    return f"{account_id}#{field_id}#{_inline(normalized_value)}"


def _inline(normalized_value: str) -> str:
    """A value as a key holds it: itself, or its digest when it is long (keys are limited to 2 KB)."""
    if len(normalized_value.encode()) > _MAX_INLINE_VALUE_BYTES:
        return "sha256:" + hashlib.sha256(normalized_value.encode()).hexdigest()
    return normalized_value


def field_value_sk(field_id: str, normalized_value: str) -> str:
    return f"{FIELD_VALUE_PREFIX}{field_id}#{hashlib.sha256(normalized_value.encode()).hexdigest()}"


@dataclass(frozen=True)
class ListScope:
    """Which list index and partition serve a combination of record filters."""

    index: str
    partition: str


# Trashed records are listed from the same four indexes, in partitions of their own: the account id
# followed by this marker, where a live partition has K, S, R or U.
_TRASH_MARK = "#T"


def _list_owner(account_id: str, trashed: bool) -> str:
    return f"{account_id}{_TRASH_MARK if trashed else ''}"


def record_list_keys(account_id: str, kanban_id: str, status: str, trashed: bool = False) -> dict[str, str]:
    """A record's partitions in the four list indexes: by kanban, kanban+status, status, account (a
    trashed record's: the same in the trash's partitions)."""
    owner = _list_owner(account_id, trashed)
    return {
        "GSI1PK": f"{owner}#K#{kanban_id}",
        "GSI2PK": f"{owner}#K#{kanban_id}#S#{status}",
        "GSI3PK": f"{owner}#S#{status}",
        "GSI4PK": f"{owner}#R",
    }


def assignment_list_keys(account_id: str, user_id: str, kanban_id: str, status: str,
                         trashed: bool = False) -> dict[str, str]:
    """An assignment's partitions: by user, user+kanban+status, user+status, user+kanban (a trashed
    record's assignment: the same in the trash's partitions)."""
    user = f"{_list_owner(account_id, trashed)}#U#{user_id}"
    return {
        "GSI1PK": user,
        "GSI2PK": f"{user}#K#{kanban_id}#S#{status}",
        "GSI3PK": f"{user}#S#{status}",
        "GSI4PK": f"{user}#K#{kanban_id}",
    }


def list_scope(account_id: str, kanban_id: str | None, status: str | None, user_id: str | None,
               trashed: bool = False) -> ListScope:
    """Every combination of filters is one Query on one partition; no list ever scans. `trashed`: the
    same list of the trash (ordered by deletion instead of creation)."""
    if user_id is None:
        keys = record_list_keys(account_id, kanban_id or "", status or "", trashed)
        index = {(True, False): "GSI1", (True, True): "GSI2", (False, True): "GSI3", (False, False): "GSI4"}
    else:
        keys = assignment_list_keys(account_id, user_id, kanban_id or "", status or "", trashed)
        index = {(False, False): "GSI1", (True, True): "GSI2", (False, True): "GSI3", (True, False): "GSI4"}
    name = index[(kanban_id is not None, status is not None)]
    return ListScope(name, keys[f"{name}PK"])


def refused_change_key(account_id: str, record_id: str) -> tuple[str, str]:
    """A record whose change the search engine refused; the index verifier repairs it."""
    return refused_changes_pk(account_id), f"RECORD#{record_id}"


def refused_changes_pk(account_id: str) -> str:
    return f"REPAIR#{account_id}"


VERIFIER_CURSOR_KEY = ("REPAIRS", "CURSOR")


def history_key(account_id: str, record_id: str, version: int) -> tuple[str, str]:
    """One version of a record in its history (kept after the record is deleted or purged)."""
    return history_pk(account_id, record_id), f"{version:010d}"


def history_pk(account_id: str, record_id: str) -> str:
    return f"HISTORY#{account_id}#{record_id}"


def feed_pk(account_id: str) -> str:
    return f"FEED#{account_id}"


def feed_sk(sequence: int) -> str:
    """Sequence numbers sort as text: zero-padded."""
    return f"{sequence:016d}"


def feed_sequence_key(account_id: str) -> tuple[str, str]:
    """The account's feed counter: the sequence number of its last feed entry."""
    return f"FEEDSEQ#{account_id}", "SEQ"
WEBHOOK_PREFIX = "WEBHOOK#"
DELIVERY_PREFIX = "DELIVERY#"


def webhooks_pk(account_id: str) -> str:
    return f"WEBHOOK#{account_id}"


def webhook_sk(webhook_id: str) -> str:
    return f"{WEBHOOK_PREFIX}{webhook_id}"


def deliveries_pk(account_id: str, webhook_id: str) -> str:
    return f"DELIVERY#{account_id}#{webhook_id}"


def delivery_sk(delivery_id: str) -> str:
    """Delivery ids are delivery_<ms>_<random>, so the sort key orders deliveries by creation time."""
    return f"{DELIVERY_PREFIX}{delivery_id}"


def delivery_event_sk(event_id: str) -> str:
    """The lock that keeps one delivery per (webhook, event id), whatever retries the event's producer makes."""
    return f"EVENT#{_inline(event_id)}"
