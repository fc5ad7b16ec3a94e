"""Per-account rate limits through the real handlers: headers, 403, windows, overrides, isolation."""

import json
import os
import time
from types import SimpleNamespace

import pytest

from shared.admin_cli import main as crm_admin
from shared.logic import rate_limits
from shared.logic.admin import bootstrap_account
from shared.models.domain import Account
from shared.repository.accounts import get_account


def current(account: dict) -> Account:
    """The account as the table holds it now (limits included)."""
    return get_account(account["accountId"])


@pytest.fixture
def mid_minute(monkeypatch):
    """Requests that compare counts must fall in one minute window, whenever the test runs."""
    now = time.time() // 60 * 60 + 30
    monkeypatch.setattr(rate_limits, "time", SimpleNamespace(time=lambda: now))


def test_successful_responses_carry_the_headers(api, mid_minute):
    first, second = api.get("/kanbans"), api.get("/crm/records")
    assert first.headers["X-RateLimit-Limit"] == "120"
    assert int(first.headers["X-RateLimit-Remaining"]) - 1 == int(second.headers["X-RateLimit-Remaining"])
    assert int(first.headers["X-RateLimit-Reset"]) % 60 == 0


def test_every_route_group_counts(api, account, search_settings, mid_minute):
    paths = ("/kanbans", "/crm/records", "/crm/fields", "/users", "/crm/search/aggregations")
    remaining = [int(api.get(path).headers["X-RateLimit-Remaining"]) for path in paths]
    assert remaining == [119, 118, 117, 116, 115]


def test_exceeding_the_limit_is_a_403_with_headers_and_performs_nothing(api, account, mid_minute):
    rate_limits.set_limits(account["accountId"], per_minute=3, per_hour=None)
    for _ in range(3):
        assert api.post("/crm/records", {"title": "counted"}).status == 201

    refused = api.post("/crm/records", {"title": "refused"})

    assert refused.status == 403
    assert refused.json()["error"] == "Forbidden" and refused.json()["message"].startswith("Rate limit exceeded")
    assert refused.headers["X-RateLimit-Limit"] == "3" and refused.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    rate_limits.reset_limits(account["accountId"])
    titles = [r["title"] for r in api.get("/crm/records").json()["items"]]
    assert titles == ["counted"] * 3


def test_other_accounts_are_unaffected(api, account, mid_minute):
    rate_limits.set_limits(account["accountId"], per_minute=1, per_hour=None)
    other = api.as_token(bootstrap_account("Other", "Olga", "olga@example.com")["token"])
    api.get("/kanbans")
    assert api.get("/kanbans").status == 403
    assert other.get("/kanbans").status == 200


def test_the_minute_window_resets_at_its_boundary(account):
    rate_limits.set_limits(account["accountId"], per_minute=2, per_hour=100)
    start = 1_800_000_000.0  # a minute boundary
    for second in (0, 30):
        rate_limits.consume(current(account), now=start + second)
    with pytest.raises(rate_limits.RateLimited) as refused:
        rate_limits.consume(current(account), now=start + 59.5)
    assert refused.value.headers["Retry-After"] == "1"

    quota = rate_limits.consume(current(account), now=start + 60)

    assert (quota.remaining, quota.reset) == (1, int(start) + 120)


def test_the_hour_window_holds_across_minutes(account):
    rate_limits.set_limits(account["accountId"], per_minute=10, per_hour=3)
    hour = 1_800_000_000.0 - 1_800_000_000.0 % 3600
    for minute in range(3):
        rate_limits.consume(current(account), now=hour + 60 * minute)
    with pytest.raises(rate_limits.RateLimited) as refused:
        rate_limits.consume(current(account), now=hour + 600)
    assert "per hour" in refused.value.message and refused.value.headers["Retry-After"] == "3000"
    assert rate_limits.consume(current(account), now=hour + 3600).remaining == 2


def test_changed_limits_apply_to_the_very_next_request(api, account):
    assert api.get("/kanbans").headers["X-RateLimit-Limit"] == "120"
    rate_limits.set_limits(account["accountId"], per_minute=500, per_hour=None)
    assert api.get("/kanbans").headers["X-RateLimit-Limit"] == "500"


def test_crm_admin_limits(account, capsys):
    environment = dict(os.environ)

    def run(*args: str) -> dict:
        assert crm_admin(["limits", *args, "--account-id", account["accountId"], "--table-name", "crm-test"]) == 0
        assert dict(os.environ) == environment
        return json.loads(capsys.readouterr().out)

    assert run("show")["perMinute"] == 120
    assert run("set", "--per-minute", "600")["perMinute"] == 600
    shown = run("set", "--per-hour", "9000")
    assert (shown["perMinute"], shown["perHour"]) == (600, 9000)
    assert run("reset") == {"accountId": account["accountId"], "perMinute": 120, "perHour": 3000,
                            "custom": {"perMinute": False, "perHour": False}}
    assert crm_admin(["limits", "show", "--account-id", "account_nope", "--table-name", "crm-test"]) == 1
