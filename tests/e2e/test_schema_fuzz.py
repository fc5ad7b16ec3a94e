"""Schema-driven fuzzing: schemathesis reads the committed OpenAPI document (the one the API serves, as
the first test checks) and sends every operation generated requests, valid (positive) and invalid
(negative), through the local stack. Every answer must be no server error, with a status the operation
documents, in a documented content type, with a body and headers that match the document; a method a
path does not serve must be a 405 with Allow.

Bounded for CI and the same on every run (derandomized): per operation, 25 generated requests (the
fuzzing phase, both modes mixed), the requests the coverage phase derives from the document (each
boundary and each way a parameter or body can break it, once) and the document's own examples.

The fuzzer works in an account of its own, so what it creates, changes and deletes never reaches the
demo account that other tests count on. About half of the generated requests that name an id name a
resource of that account that exists (until a DELETE removes it), so reads, updates and deletes run on
stored data instead of stopping at 404.
"""

import itertools
import json
import re
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import HealthCheck
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from shared import idempotency
from shared.openapi import DOCUMENT_PATH
from tests.e2e.conftest import UNAUTHORIZED_ANSWERS

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    # A method a path does not serve: 405 with Allow, as the document's description says.
    unsupported_method,
]
# Ids of the fuzz account's own resources, by where a request names them: path parameters, query
# parameters, and the userId of POST /tokens. Filled by the fuzz_targets fixture before any request.
TARGETS: dict[str, dict[str, str]] = {"path": {}, "query": {}, "body": {}}
# What each of those accepts by the document: only a value that is already valid is swapped for a real
# id, so a negative case stays negative.
_VALID = {"path": lambda v: isinstance(v, str) and v != "",
          "query": lambda v: isinstance(v, str) and 0 < len(v) <= 200,
          "body": lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,100}", v) is not None}
# (operation, phase, generation mode, status) -> requests sent; reported when the module ends.
SENT: Counter[tuple[str, str, str, int]] = Counter()

schema = schemathesis.openapi.from_path(DOCUMENT_PATH)
schema.config.update(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=EXAMPLES_PER_OPERATION,
    deterministic=True,
    database="none",
    # Every request carries the fuzz account's token (a 401 is tested on its own below), so negative
    # cases break parameters and bodies rather than the Authorization header.
    with_security_parameters=False,
)
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])


def _sometimes_real(generated: Any, where: str) -> st.SearchStrategy:
    """The generated values as they are, or with each valid one that names a target set to its real id."""
    if not isinstance(generated, dict):
        return st.just(generated)
    targets = TARGETS[where]
    real = {name: targets[name] for name, value in generated.items() if name in targets and _VALID[where](value)}
    return st.sampled_from([generated, {**generated, **real}]) if real else st.just(generated)


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    return _sometimes_real(path_parameters, "path")


@schema.hook
def flatmap_query(context, query):
    return _sometimes_real(query, "query")


@schema.hook
def flatmap_body(context, body):
    if context.operation is None or context.operation.label != "POST /tokens":
        return st.just(body)
    return _sometimes_real(body, "body")


# Numbers that make each generated Idempotency-Key unique (see before_call).
_KEY_SUFFIXES = itertools.count()


@schemathesis.hook
def before_call(context, case, **kwargs):
    """A valid generated Idempotency-Key is made unique: the generator repeats a few values ("0", "00"),
    and a key sent again with another request is a 422 before the route runs, which would stop most
    writes there. An invalid key is sent as generated, to be refused with a 400."""
    key = (case.headers or {}).get(idempotency.HEADER)
    if isinstance(key, str) and re.fullmatch(idempotency.KEY_PATTERN, key):
        case.headers[idempotency.HEADER] = f"{key[:240].rstrip()}-{next(_KEY_SUFFIXES)}"


@schema.hook
def after_call(context, case, response):
    if case.meta is None:  # a case written by hand, not generated
        return
    SENT[(case.operation.label, case.meta.phase.name.value, case.meta.generation.mode.value,
          response.status_code)] += 1


def crm_admin(stack, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "shared.admin_cli", *args, "--endpoint-url", f"http://127.0.0.1:{stack.dynamodb_port}"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def fuzz_account(stack):
    return crm_admin(stack, "bootstrap", "--account-name", "Fuzz Co")


@pytest.fixture(scope="module")
def fuzz_targets(stack, fuzz_account):
    """A resource of each kind for the generated requests to find. The fuzzer's own user and token are
    not among them: revoking that token would turn every later request into a 401."""
    token = fuzz_account["token"]

    def created(path: str, body: dict) -> dict:
        response = stack.request("POST", path, token=token, body=body)
        assert response.status == 201, response.body
        return response.json()

    kanban = created("/kanbans", {"name": "Fuzz target", "fields": [
        {"name": "Email", "type": "email"}, {"name": "Source", "type": "select", "options": ["Web", "Ads"]},
    ]})
    member = created("/users", {"name": "Fuzz member", "email": "member@example.com",
                                "kanbanIds": [fuzz_account["kanbanId"]]})
    member_token = created("/tokens", {"userId": member["userId"], "name": "fuzz target"})
    record = created(f"/crm/records?kanbanId={fuzz_account['kanbanId']}",
                     {"title": "Fuzz target", "assignedUserIds": [member["userId"]], "channelId": "fuzz"})
    # A webhook (to a closed local port: its deliveries fail and are retried) and a delivery of it.
    webhook = created("/webhooks", {"url": "http://127.0.0.1:9/fuzz", "events": ["record.created"]})
    ping = stack.request("POST", f"/webhooks/{webhook['webhookId']}/test", token=token)
    assert ping.status == 202, ping.body
    TARGETS["path"].update(kanbanId=kanban["id"], recordId=record["recordId"], userId=member["userId"],
                           tokenId=member_token["tokenId"], webhookId=webhook["webhookId"],
                           deliveryId=ping.json()["deliveryId"])
    TARGETS["query"].update(kanbanId=fuzz_account["kanbanId"], assignedUserId=member["userId"])
    TARGETS["body"].update(userId=fuzz_account["userId"])
    yield
    for targets in TARGETS.values():
        targets.clear()


@pytest.fixture(scope="module")
def fuzz_report(request):
    started = time.monotonic()
    yield
    if not SENT:
        return
    totals: dict[str, Counter] = {"mode": Counter(), "phase": Counter(), "status": Counter()}
    for (_, phase, mode, status), count in SENT.items():
        totals["mode"][mode] += count
        totals["phase"][phase] += count
        totals["status"][status] += count
    operations = len({operation for operation, *_ in SENT})
    line = (f"schema fuzzing: {sum(SENT.values())} requests over {operations} operations in "
            f"{time.monotonic() - started:.0f} s; "
            + "; ".join(f"by {name} {dict(sorted(counts.items()))}" for name, counts in totals.items()))
    capture = request.config.pluginmanager.getplugin("capturemanager")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(line)


def test_the_fuzzed_document_is_the_served_one(stack):
    response = stack.request("GET", "/openapi.json", headers={"Authorization": ""})
    assert response.status == 200
    served, committed = response.json(), json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    assert served.pop("servers") == [{"url": "/", "description": "This API"}]
    committed.pop("servers")
    assert served == committed


@pytest.mark.gateway_only("fuzzed requests: sam local start-api answers a body that is not UTF-8 with 502, a method it "
                          "does not route with 403, and refuses paths with control characters in its authorizer check")
@schema.parametrize()
def test_every_operation_answers_as_documented(case, stack, fuzz_account, fuzz_targets, fuzz_report):
    case.call_and_validate(
        base_url=stack.base_url, headers={"Authorization": f"Bearer {fuzz_account['token']}"},
        checks=CHECKS, timeout=30,
    )


@pytest.mark.gateway_only(UNAUTHORIZED_ANSWERS)
@pytest.mark.parametrize("authorization", [None, "Bearer crm_token_unknown.secret"], ids=["no token", "unknown token"])
def test_every_operation_answers_a_request_without_a_valid_token_as_documented(stack, authorization):
    """The 401 the fuzzing above never meets (its requests all carry a valid token), for every operation
    that takes one; the documentation routes answer without one."""
    for result in schema.get_all_operations():
        operation = result.ok()
        public = operation.definition.raw.get("security") == []
        case = operation.Case(
            path_parameters={name: "x" for name in re.findall(r"\{(\w+)\}", operation.path)},
            headers={"Authorization": authorization} if authorization else {},
            # Operations that take a body get an empty one (POST .../restore and POST /webhooks/{webhookId}/test
            # take none).
            body={} if "requestBody" in operation.definition.raw else NOT_SET,
        )
        response = case.call(base_url=stack.base_url, timeout=30)
        assert response.status_code == (200 if public else 401), operation.label
        case.validate_response(response, checks=CHECKS)


FIELD = {"name": "Kind", "type": "text"}
# What the fuzzing found, one request each: (method, path, body, status the API must answer).
FOUND = [
    # A method outside http.server's list was its 501 HTML page, not the API's 405.
    ("TRACE", "/kanbans", None, 405),
    # Lax validation took false for 0 and 0 for false.
    ("POST", "/kanbans", {"name": "Typed", "order": False}, 400),
    ("POST", "/kanbans", {"name": "Typed", "isDefault": 0}, 400),
    # ...and still takes 2.0 for 2, as JSON Schema's integer does.
    ("POST", "/kanbans", {"name": "Whole", "order": 2.0}, 201),
    # A new field's read-only values were dropped on POST, while PUT refused a change of them.
    ("POST", "/kanbans", {"name": "Fields", "fields": [{**FIELD, "isSystem": True}]}, 400),
    ("POST", "/kanbans", {"name": "Fields", "fields": [FIELD, {**FIELD, "order": 0}]}, 400),
    ("POST", "/kanbans", {"name": "Fields", "fields": [{**FIELD, "order": 0, "isSystem": False}]}, 201),
]


# sam local start-api answers a method it does not route (TRACE) with its own 403 "Missing Authentication Token".
UNROUTED_BY_SAM = pytest.mark.gateway_only("a method sam local start-api does not route")


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    pytest.param(*found, id=" ".join(map(str, found[:3])), marks=UNROUTED_BY_SAM if found[0] == "TRACE" else ())
    for found in FOUND
])
def test_what_fuzzing_found_stays_fixed(stack, fuzz_account, method, path, body, status):
    response = stack.request(method, path, token=fuzz_account["token"], body=body)
    assert response.status == status, response.body
    assert response.headers["Content-Type"] == "application/json"
    if status == 405:
        assert response.headers["Allow"] == "GET, POST"

