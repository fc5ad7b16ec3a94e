"""Property: whatever a client sends to any route (path, query parameters, body), the API answers
without a 5xx, and the table stays consistent: a refused request writes nothing, and an accepted one
writes every item it implies (assignment and field-value entries, channel and unique-value locks,
status counters)."""

import json
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.models import api as models
from shared.repository import keys
from shared.routes import ROUTES, Route
from tests.integration.conftest import create_member

EXAMPLES = 400
BODY_MODELS = {
    ("POST", "/crm/records"): models.CreateRecordRequest,
    ("PUT", "/crm/records/{recordId}"): models.UpdateRecordRequest,
    ("POST", "/kanbans"): models.CreateKanbanRequest,
    ("PUT", "/kanbans/{kanbanId}"): models.UpdateKanbanRequest,
    ("POST", "/users"): models.CreateUserRequest,
    ("PUT", "/users/{userId}"): models.UpdateUserRequest,
    ("POST", "/tokens"): models.CreateTokenRequest,
}
# Routes that write come up four times as often as the others.
# The documentation routes take no input and touch no data (the schema fuzz in tests/e2e covers them).
WEIGHTED_ROUTES = [r for r in ROUTES if not r.public for _ in range(4 if r.method in ("POST", "PUT") else 1)]
sent: Counter[int] = Counter()

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# Values shaped like what the API expects, so requests get past the first check as often as not.
plausible = st.sampled_from([
    "new", "contacted", "Website", "referral", "jane@example.com", "+1 234-567-890", "https://example.com/x",
    "http://[", "2024-01-15", "2024-01-15T10:30:00+02:00", "9999-12-31T23:59:59-14:00", "", " ", "admin",
    "member", "#1890ff", "text", "select", "multiselect", "url", "phone", "\u0000", "\ud800", "a" * 1001,
]) | st.integers(min_value=-(10**40), max_value=10**40) | st.floats(allow_nan=False, allow_infinity=False)


@pytest.fixture
def world(api, account, board, search_settings, monkeypatch):
    """A board with every field type, a record on it, a member and a spare token: ids to aim at."""
    from shared.settings import get_settings

    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "1000000")
    monkeypatch.setenv("RATE_LIMIT_PER_HOUR", "1000000")
    get_settings.cache_clear()
    # Its email and phone fields unique, so records take and release unique-value locks.
    unique = [{**f, "unique": f["type"] in ("email", "phone")} for f in board["fields"]]
    assert api.put(f"/kanbans/{board['id']}", {"fields": unique}).status == 200
    record = api.post("/crm/records", {"title": "Fuzz target", "channelId": "c-1",
                                       "customFields": {board["f"]["email"]: "a@example.com"}},
                      query={"kanbanId": board["id"]}).json()
    member, _ = create_member(api, [board["id"]])
    spare = api.post("/tokens", {"userId": member["userId"], "name": "spare"}).json()
    return {
        "recordId": [record["recordId"], "record_1_nope"],
        "kanbanId": [board["id"], account["kanbanId"], "kanban_1_nope"],
        "userId": [member["userId"], account["userId"], "user_1_nope"],
        "tokenId": [spare["tokenId"], "token_1_nope"],
        "fieldIds": list(board["f"].values()),
        "fields": board["fields"],
        "statuses": [s["value"] for s in board["statuses"]],
    }


def _field_value(field: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for one custom field: of its type, near its limits, or just wrong."""
    options = st.sampled_from(field.get("options") or ["none"]).map(lambda o: o.swapcase())
    by_type = {
        "text": st.text(max_size=1001), "textarea": st.text(max_size=300),
        "number": st.integers() | st.floats(), "currency": st.integers() | st.floats(),
        "date": st.dates().map(str), "datetime": st.datetimes().map(lambda d: d.isoformat() + "Z"),
        "select": options, "multiselect": st.lists(options, max_size=4), "boolean": st.booleans(),
        "email": st.emails(), "phone": st.from_regex(r"\+?[0-9 ().-]{1,25}", fullmatch=True),
        "url": st.sampled_from(["https://example.com/a?b=c", "http://[::1]:8080/", "http://[", "http://[::1",
                                "http://example.com:99999", "http://exa mple.com", "mailto:x@example.com"]),
    }
    return by_type[field["type"]] | plausible


def _body(route: Route, world: dict[str, Any]) -> st.SearchStrategy[bytes | None]:
    model = BODY_MODELS.get((route.method, route.path))
    if model is None:
        return st.none() | st.binary(max_size=20)
    hints = {
        "title": st.text(min_size=1, max_size=40), "name": st.text(min_size=1, max_size=40),
        "status": st.sampled_from(world["statuses"]), "email": st.emails(),
        "role": st.sampled_from(["admin", "member"]),
        "description": st.text(max_size=40), "isDefault": st.booleans(), "order": st.integers(-1, 10_001),
        "channelId": st.text(min_size=1, max_size=20), "userId": st.sampled_from(world["userId"]),
    }
    typed = {name: hints.get(name, plausible) for name in model.model_fields}
    typed["customFields"] = st.dictionaries(st.sampled_from(world["fieldIds"] + ["field_x"]), plausible, max_size=4)
    for name in ("assignedUserIds", "kanbanIds"):
        typed[name] = st.lists(st.sampled_from(world["userId"] + world["kanbanId"]), max_size=3)
    loose = {name: strategy | json_values for name, strategy in typed.items()}

    required = [name for name, field in model.model_fields.items() if field.is_required()]
    hints["customFields"] = st.fixed_dictionaries({}, optional={f["id"]: _field_value(f) for f in world["fields"]})
    # Mostly valid: the required fields and the optional ones whose hints are of the right kind.
    sensible = st.fixed_dictionaries(
        {name: hints.get(name, plausible) for name in required},
        optional={name: hints[name] for name in model.model_fields if name in hints and name not in required},
    )

    def encoded(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy[bytes]:
        return st.fixed_dictionaries({}, optional=fields).map(lambda d: json.dumps(d).encode())

    sensible_body = sensible.map(lambda d: json.dumps(d).encode())
    return st.one_of(sensible_body, sensible_body, sensible_body, encoded(typed), encoded(loose),
                     json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=40))


@st.composite
def requests(draw, world: dict[str, Any]) -> tuple[str, str, str, bytes | None]:
    route = draw(st.sampled_from(WEIGHTED_ROUTES))
    path = route.path
    for name in ("recordId", "kanbanId", "userId", "tokenId"):
        if f"{{{name}}}" in path:
            value = draw(st.sampled_from(world[name]) | st.text(min_size=1, max_size=20))
            path = path.replace(f"{{{name}}}", quote(value, safe=""))
    query = {name: draw(st.sampled_from(world["kanbanId"] + world["statuses"] + world["fieldIds"]) | plausible)
             for name in route.query if draw(st.booleans())}
    if draw(st.integers(0, 9)) == 0:
        query["unknownParameter"] = "x"
    method = route.method if draw(st.integers(0, 19)) else draw(st.sampled_from(["PATCH", "POST", "DELETE"]))
    query_string = urlencode({k: str(v) for k, v in query.items()}, errors="surrogatepass")
    return method, path, query_string, draw(_body(route, world))


def _table(table_name: str) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=table_name)["Items"]
    return [i for i in items if not i["PK"]["S"].startswith("RATE#")]


def _inconsistencies(items: list[dict[str, Any]]) -> list[str]:
    """What the table holds that no complete write leaves behind."""
    problems = []
    children: dict[str, set[str]] = defaultdict(set)
    for item in items:
        if item["PK"]["S"].startswith("RECORD#") and item["SK"]["S"] != "RECORD":
            children[item["PK"]["S"]].add(item["SK"]["S"])
    records = [i for i in items if i["SK"]["S"] == "RECORD"]
    per_status: Counter[tuple[str, str]] = Counter()
    held_locks: dict[str, str] = {}  # unique-value lock -> the record partition that holds it
    for record in records:
        pk = record["PK"]["S"]
        assigned = {f"ASSIGN#{u['S']}" for u in record.get("assignedUserIds", {}).get("L", [])}
        if {c for c in children[pk] if c.startswith("ASSIGN#")} != assigned:
            problems.append(f"{pk}: assignment entries differ from assignedUserIds")
        values = record.get("searchValues", {}).get("L", [])
        if len([c for c in children[pk] if c.startswith("FV#")]) != len(values):
            problems.append(f"{pk}: field-value entries differ from its indexed values")
        per_status[(record["accountId"]["S"], record["kanbanId"]["S"], record["status"]["S"])] += 1
        for held in record.get("uniqueValues", {}).get("L", []):
            field_id, value = (v["S"] for v in held["L"])
            held_locks[keys.unique_value_pk(record["accountId"]["S"], record["kanbanId"]["S"], field_id, value)] = pk
    locks = {i["PK"]["S"]: f"RECORD#{i['PK']['S'].split('#')[1]}#{i['recordId']['S']}"
             for i in items if i["PK"]["S"].startswith("UNIQUE#")}
    if locks != held_locks:
        problems.append(f"unique-value locks {locks} but records hold {held_locks}")
    for item in items:
        if item["PK"]["S"].startswith("COUNTS#"):
            _, account_id, kanban_id = item["PK"]["S"].split("#")
            counted = {k.removeprefix("S#"): int(v["N"]) for k, v in item.items() if k.startswith("S#")}
            actual = {s: n for (a, k, s), n in per_status.items() if (a, k) == (account_id, kanban_id)}
            if {s: n for s, n in counted.items() if n} != actual:
                problems.append(f"{item['PK']['S']}: status counters {counted} but records {actual}")
    return problems


def test_no_request_yields_a_5xx_or_a_partial_write(api, world, table):
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(request=requests(world))
    def one_request(request: tuple[str, str, str, bytes | None]) -> None:
        method, path, query, body = request
        before = _table(table)
        headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}

        response = api.emulator.dispatch(method, path, query, headers, body)

        sent[response.status] += 1
        assert response.status < 500, (method, path, query, body, response.body)
        assert set(response.json()) >= ({"error", "message"} if response.status >= 400 else set())
        after = _table(table)
        if response.status >= 400:
            assert after == before, (method, path, query, body, response.body)
        assert _inconsistencies(after) == [], (method, path, query, body)

    one_request()
    print(f"\nfuzz: {sum(sent.values())} requests, answers by status: {dict(sorted(sent.items()))}")
    assert sum(sent.values()) >= EXAMPLES
    assert sent[200] + sent[201] > 0 and sum(n for status, n in sent.items() if 400 <= status < 500) > 0
