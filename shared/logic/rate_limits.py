"""Per-account rate limits: two fixed windows (a minute and an hour), counted in the table."""

import math
import time
from dataclasses import dataclass

from shared.errors import RateLimited
from shared.models.domain import Account
from shared.repository import rate_limits as repository
from shared.settings import get_settings


@dataclass(frozen=True)
class Limits:
    per_minute: int
    per_hour: int


@dataclass(frozen=True)
class Quota:
    """What the X-RateLimit-* headers say after a request."""

    limit: int
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(self.reset)}


def limits_of(account: Account) -> Limits:
    """The account's own limits where it has them, else the defaults: read with the caller's
    credentials on every request, so a change takes effect at once."""
    settings = get_settings()
    return Limits(account.rate_limit_per_minute or settings.rate_limit_per_minute,
                  account.rate_limit_per_hour or settings.rate_limit_per_hour)


def consume(account: Account, now: float | None = None) -> Quota:
    """Count one request of the account; raises RateLimited (with the headers) when a window is full."""
    now = time.time() if now is None else now
    limits = limits_of(account)
    account_id = account.account_id
    minute, hour = int(now // 60), int(now // 3600)
    minute_reset, hour_reset = (minute + 1) * 60, (hour + 1) * 3600
    try:
        counts = repository.count_request(account_id, hour, minute, limits.per_minute, limits.per_hour,
                                          expires_at=hour_reset + 3600)
    except repository.LimitReached as reached:
        hour_full = reached.counts.hour >= limits.per_hour
        retry_after = max(1, math.ceil((hour_reset if hour_full else minute_reset) - now))
        window = f"{limits.per_hour} requests per hour" if hour_full else f"{limits.per_minute} requests per minute"
        quota = Quota(limits.per_minute, 0, minute_reset)
        raise RateLimited(
            f"Rate limit exceeded: this account may make {window}; retry in {retry_after} s",
            headers={**quota.headers(), "Retry-After": str(retry_after)},
        ) from None
    remaining = min(limits.per_minute - counts.minute, limits.per_hour - counts.hour)
    return Quota(limits.per_minute, max(0, remaining), minute_reset)


def show(account_id: str) -> dict[str, object]:
    per_minute, per_hour = repository.get_overrides(account_id)
    settings = get_settings()
    return {
        "accountId": account_id,
        "perMinute": per_minute or settings.rate_limit_per_minute,
        "perHour": per_hour or settings.rate_limit_per_hour,
        "custom": {"perMinute": per_minute is not None, "perHour": per_hour is not None},
    }


def set_limits(account_id: str, per_minute: int | None, per_hour: int | None) -> dict[str, object]:
    """Give the account its own limits; a window not given keeps its current limit."""
    current_minute, current_hour = repository.get_overrides(account_id)
    repository.set_overrides(account_id, per_minute or current_minute, per_hour or current_hour)
    return show(account_id)


def reset_limits(account_id: str) -> dict[str, object]:
    """Back to the defaults."""
    repository.set_overrides(account_id, None, None)
    return show(account_id)
