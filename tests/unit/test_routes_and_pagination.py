"""The route table, list scopes and pagination tokens, without I/O."""

import itertools

import pytest

from functions.admin.handler import app as admin_app
from functions.changes.handler import app as changes_app
from functions.kanbans.handler import app as kanbans_app
from functions.meta.handler import app as meta_app
from functions.records.handler import app as records_app
from functions.search.handler import app as search_app
from shared import routes
from shared.errors import ValidationFailed
from shared.logic.kanbans import slugify
from shared.pagination import decode_token, encode_token
from shared.repository import keys

APPS = {"kanbans": kanbans_app, "records": records_app, "meta": meta_app, "admin": admin_app, "search": search_app,
        "changes": changes_app}


def test_match_prefers_literal_paths_and_reports_allowed_methods():
    found = routes.match("GET", "/crm/records/record_1_a")
    assert found.route.path == "/crm/records/{recordId}" and found.path_parameters == {"recordId": "record_1_a"}
    assert routes.match("GET", "/crm/records").route.path == "/crm/records"
    wrong = routes.match("PATCH", "/kanbans")
    assert wrong.route is None and set(wrong.allowed_methods) == {"GET", "POST"} and wrong.group == "kanbans"
    assert routes.match("GET", "/nothing") is None


@pytest.mark.parametrize("group", sorted(APPS))
def test_handlers_serve_exactly_the_route_table(group):
    """Each function's routes and query parameters are those the route table declares for its group."""
    schema = APPS[group].get_openapi_schema()
    served = {}
    for path, operations in schema.paths.items():
        for method, operation in operations.model_dump(exclude_none=True, by_alias=True, mode="json").items():
            query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            served[(method.upper(), path)] = query
    declared = {(r.method, r.path): set(r.query) for r in routes.routes_of(group)}
    assert served == declared


def test_every_filter_combination_reads_its_own_partition():
    scopes = {
        keys.list_scope("account_1", k, s, u, trashed)
        for k, s, u, trashed in itertools.product([None, "kanban_1"], [None, "new"], [None, "user_1"], [False, True])
    }
    assert len(scopes) == 16
    assert {s.partition.split("#")[0] for s in scopes} == {"account_1"}
    # The trash's partitions are never those of live records, whatever the filters.
    live = {s.partition for s in scopes if not s.partition.startswith("account_1#T#")}
    assert len(live) == 8


def test_pagination_tokens_are_bound_to_their_query():
    cursor = {"PK": "RECORD#account_1#record_1", "CREATED": "0000000000001#record_1"}
    token = encode_token(cursor, "records|account_1|None")
    assert decode_token(token, "records|account_1|None") == cursor
    for scope in ("records|account_2|None", "records|account_1|kanban_1"):
        with pytest.raises(ValidationFailed):
            decode_token(token, scope)
    assert encode_token(None, "x") is None and decode_token(None, "x") is None


@pytest.mark.parametrize("bad", ["", ".", "abc", "a.b.c", "!!!.???"])
def test_garbage_tokens_are_validation_errors(bad):
    with pytest.raises(ValidationFailed):
        decode_token(bad, "scope")


@pytest.mark.parametrize(("name", "slug"), [
    ("Sales Pipeline", "sales-pipeline"), ("  Café & Crème!  ", "cafe-creme"), ("🚀", "kanban"),
])
def test_slugify(name, slug):
    assert slugify(name) == slug
