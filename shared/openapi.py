"""Builds the API's one OpenAPI document from the functions' resolvers and models (`make openapi`).

Each route group's resolver describes its own routes (parameters with their limits, bodies and
answers from the models, statuses from the route table); this merges them and adds what holds for
the whole API: the Bearer scheme, the rate-limit headers and the error format.
"""

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from shared import conditional, idempotency, routes
from shared.http import API_TITLE, API_VERSION, BEARER_SCHEME, STATUS_MEANINGS

DOCUMENT_PATH = Path(__file__).resolve().parent.parent / "functions" / "docs" / "openapi.json"
DESCRIPTION = """\
Manage CRM records on kanban boards: records with typed custom fields, full-text search (substring,
up to 2 typos, case-insensitive), exact case-insensitive lookups by custom-field value, status counts,
and the account's kanbans, users and API tokens.

**Authentication.** Send `Authorization: Bearer <token>` with every request (but this document and
`/docs`). An admin creates tokens with `POST /tokens`.

**Rate limits.** Per account: 120 requests per minute and 3,000 per hour by default. Every answer to a
request with a valid token carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`;
an exhausted limit is a 403 with `Retry-After`.

**Errors.** Every error has the body `{"error": "<reason phrase>", "message": "..."}`. A method a path
does not serve is a 405 whose `Allow` header lists the methods it does serve.

**Conditional requests.** Records and kanbans carry their version as a strong `ETag` (`"3"`) on `GET`,
`POST` and `PUT`; it changes with every write. `If-Match` on `PUT` and `DELETE` writes only at a version
it names (`*`: any), checked atomically with the write; otherwise a 412 and nothing is written.
`If-None-Match` on `GET` answers 304 without a body while the ETag it names is current.

**Idempotency-Key.** Every `POST`, `PUT` and `DELETE` takes an `Idempotency-Key` header: an opaque
string of 1 to 255 printable ASCII characters (else a 400), kept for 24 hours per user. A request
sent again with the same key, method, path, query and JSON body is not run again: it gets the first
answer (status, body and headers, `ETag` included) with `Idempotent-Replayed: true`, and
current rate-limit headers, since it still counts against the limits. The key with another request
is a 422; while the key's first request still runs, a 409. Every answer below 500 is kept; a 5xx is
not, so a retry runs again. Requests refused before they run (token, rate limit, an unknown or
repeated parameter, a body that is not one JSON object, a malformed key) keep nothing; the answer of
a request that ran is kept, a 400 from validation included.

**Read-only fields.** A kanban or user as GET answers it can be sent back with PUT: read-only fields
are accepted when unchanged, and a 400 names them when they differ.
"""

_RATE_LIMIT_HEADERS: dict[str, dict[str, Any]] = {
    "X-RateLimit-Limit": {"description": "Requests per minute the account may make", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in the current window", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "Unix time (s) when the minute window resets",
                          "schema": {"type": "integer"}},
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}
_ETAG = {conditional.ETAG: {"description": 'The version of the record or kanban, a strong ETag such as "3"; send it '
                                           "back in If-Match or If-None-Match",
                            "required": True, "schema": {"type": "string"}}}
# The answers of a versioned route that carry its ETag (shared.routes.Route.etag).
_TAGGED = {200, 201, 304}
# Statuses answered before a request is counted (the token was refused) or by the gateway itself.
_UNCOUNTED = {401, 413}
_IDEMPOTENCY_KEY = "IdempotencyKey"
_IDEMPOTENCY_PARAMETER = {
    "name": idempotency.HEADER, "in": "header", "required": False,
    "description": "Makes a retry of this request safe: a request sent again with the same key gets the first "
                   "answer, without running again (kept for 24 hours, per account)",
    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH,
               "pattern": idempotency.KEY_PATTERN},
}
_REPLAYED = {idempotency.REPLAYED_HEADER: {
    "description": "true: the answer kept for this Idempotency-Key, replayed; the request did not run again",
    "schema": {"type": "string", "enum": ["true"]},
}}
# Answers that are never kept for an Idempotency-Key, so never replayed: those given before the request
# runs (a refused token, a body too large, the key sent with another request) and the failures.
_NEVER_KEPT = {401, 413, 422}


def _bearer_scheme() -> dict[str, HTTPBearer]:
    return {BEARER_SCHEME: HTTPBearer(scheme="bearer", description="An API token of the account")}


def _group_schema(group: str) -> dict[str, Any]:
    """One route group's part of the document. Its resolver learns the Bearer scheme here, not when its
    function starts: describing the API is no part of answering a request."""
    app = importlib.import_module(routes.ROUTE_GROUP_HANDLERS[group].partition(":")[0]).app
    app.configure_openapi(title=API_TITLE, version=API_VERSION, security_schemes=_bearer_scheme())
    return app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)


def _header_refs(names: list[str]) -> dict[str, dict[str, str]]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _finish_operation(route: routes.Route, operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    # Powertools' own validation answer: this API answers 400 instead, and 422 only for an Idempotency-Key.
    responses.pop("422", None)
    if 422 in route.statuses:
        responses["422"] = {"description": STATUS_MEANINGS[422], "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    idempotent = route.method in idempotency.METHODS and not route.public
    if idempotent:
        operation.setdefault("parameters", []).append({"$ref": f"#/components/parameters/{_IDEMPOTENCY_KEY}"})
    # A response that breaks its model is answered like any other failure: a 500 in the error format.
    responses["500"] = {"description": STATUS_MEANINGS[500],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    for status, response in responses.items():
        code = int(status)
        headers: list[str] = []
        if not route.public and code not in _UNCOUNTED:
            headers += list(_RATE_LIMIT_HEADERS)
        if code == 503 or (code == 403 and not route.public):
            headers += list(_RETRY_AFTER)
        if route.etag and code in _TAGGED:
            headers += list(_ETAG)
        if code == 304:
            response.pop("content", None)  # Not Modified has no body
        if idempotent and code < 500 and code not in _NEVER_KEPT:
            headers += list(_REPLAYED)
        if headers:
            response["headers"] = _header_refs(headers)
    if route.public:
        operation.pop("security", None)
        operation["security"] = []


def _public_content(route: routes.Route, operation: dict[str, Any]) -> None:
    """The documentation routes answer a document and a page, not a model."""
    kind = "application/json" if route.path.endswith(".json") else "text/html"
    schema = {"type": "object"} if kind == "application/json" else {"type": "string"}
    operation["responses"]["200"]["content"] = {kind: {"schema": schema}}


def build_document() -> dict[str, Any]:
    merge = OpenAPIMerge(
        title=API_TITLE, version=API_VERSION, description=DESCRIPTION,
        security_schemes=_bearer_scheme(), on_conflict="error",
    )
    for group in routes.ROUTE_GROUP_HANDLERS:
        merge.add_schema(_group_schema(group))
    document = json.loads(merge.get_openapi_json_schema())
    for route in routes.ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        if route.public:
            _public_content(route, operation)
        _finish_operation(route, operation)
    components = document["components"]
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        components.get("schemas", {}).pop(unused, None)
    components["headers"] = {**_RATE_LIMIT_HEADERS, **_RETRY_AFTER, **_ETAG, **_REPLAYED}
    components["parameters"] = {_IDEMPOTENCY_KEY: _IDEMPOTENCY_PARAMETER}
    return document


def document_text() -> str:
    return json.dumps(build_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the document where the docs function serves it from (or to the path given)."""
    target = Path(argv[0]) if argv else DOCUMENT_PATH
    target.write_text(document_text(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
