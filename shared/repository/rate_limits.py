"""Request counters of the rate limiter, and the per-account limit overrides."""

from dataclasses import dataclass

from botocore.exceptions import ClientError

from shared.errors import NotFound
from shared.repository import dynamo, keys
from shared.repository.table import TTL_ATTRIBUTE, dynamodb_client


@dataclass(frozen=True)
class Counts:
    minute: int
    hour: int


class LimitReached(Exception):
    """A window is full; carries the counts as they stand (the request was not counted)."""

    def __init__(self, counts: Counts):
        super().__init__("rate limit reached")
        self.counts = counts


def count_request(account_id: str, hour_window: int, minute_window: int, per_minute: int, per_hour: int,
                  expires_at: int) -> Counts:
    """Count one request in both windows with one conditional update: it happens only if neither
    window is full, so concurrent requests can never push a window past its limit."""
    pk, sk = keys.rate_counter_key(account_id, hour_window)
    names = {"#h": keys.HOUR_COUNT_ATTRIBUTE, "#m": keys.minute_count_attribute(minute_window), "#t": TTL_ATTRIBUTE}
    try:
        response = dynamodb_client().update_item(
            TableName=dynamo.table_name(),
            Key=dynamo.key(pk, sk),
            UpdateExpression="ADD #h :one, #m :one SET #t = :expires",
            ConditionExpression="(attribute_not_exists(#h) OR #h < :per_hour) AND "
                                "(attribute_not_exists(#m) OR #m < :per_minute)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=dynamo.serialize(
                {":one": 1, ":per_hour": per_hour, ":per_minute": per_minute, ":expires": expires_at}
            ),
            ReturnValues="UPDATED_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        old = dynamo.deserialize(error.response.get("Item") or {})
        raise LimitReached(Counts(minute=old.get(names["#m"], 0), hour=old.get(names["#h"], 0))) from None
    new = dynamo.deserialize(response["Attributes"])
    return Counts(minute=new[names["#m"]], hour=new[names["#h"]])


def get_overrides(account_id: str) -> tuple[int | None, int | None]:
    """The account's own limits (per minute, per hour), None where it uses the default."""
    item = dynamo.get(keys.account_pk(account_id), keys.ACCOUNT_SK)
    if item is None:
        raise NotFound(f"account {account_id} not found")
    return item.get("rateLimitPerMinute"), item.get("rateLimitPerHour")


def set_overrides(account_id: str, per_minute: int | None, per_hour: int | None) -> None:
    """Set the account's limits; None clears one, so the default applies again."""
    limits = {"rateLimitPerMinute": per_minute, "rateLimitPerHour": per_hour}
    to_set = {name: value for name, value in limits.items() if value is not None}
    to_clear = [name for name, value in limits.items() if value is None]
    clauses = []
    if to_set:
        clauses.append("SET " + ", ".join(f"{name} = :{name}" for name in to_set))
    if to_clear:
        clauses.append("REMOVE " + ", ".join(to_clear))
    dynamo.transact([dynamo.Write(
        dynamo.update(keys.account_pk(account_id), keys.ACCOUNT_SK, " ".join(clauses), "attribute_exists(PK)",
                      values={f":{name}": value for name, value in to_set.items()} or None),
        NotFound(f"account {account_id} not found"),
    )])
