"""The route table: the one place that says which path and method is served by which function.

The local gateway routes with it and the CDK app builds API Gateway resources from it, so local
and deployed routing cannot drift. Each route also lists the query parameters it accepts; any other
parameter is rejected with a 400 instead of being silently ignored.
"""

import re
from dataclasses import dataclass, field
from functools import cache


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    group: str
    query: tuple[str, ...] = field(default=())


# Route group -> the Lambda handler serving it ("module:function").
ROUTE_GROUP_HANDLERS: dict[str, str] = {
    "kanbans": "functions.kanbans.handler:handler",
    "records": "functions.records.handler:handler",
    "meta": "functions.meta.handler:handler",
    "admin": "functions.admin.handler:handler",
    "search": "functions.search.handler:handler",
}
AUTHORIZER_HANDLER = "functions.authorizer.handler:handler"
# Fed by the table's stream, not by a route.
INDEXER_HANDLER = "functions.indexer.handler:handler"
# Run on a schedule: checks the search index against the table and repairs it.
VERIFIER_HANDLER = "functions.verifier.handler:handler"
# How long API Gateway (and the local gateway) reuse an authorizer result for a token. The result only
# identifies the token: every function confirms the token and its user against the table on each
# request, so a revocation or a change of rights takes effect at once.
AUTHORIZER_CACHE_SECONDS = 60
# Function timeouts (the CDK app and the local gateway): API functions answer well inside API
# Gateway's 29 s integration limit; the indexer works within the same bound.
API_FUNCTION_TIMEOUT_SECONDS = 10
INDEXER_TIMEOUT_SECONDS = 29
# Lambda refuses a synchronous invocation whose event is larger than this (the caller gets 413).
MAX_EVENT_BYTES = 6 * 1024 * 1024

_PAGE = ("limit", "nextToken")

ROUTES: tuple[Route, ...] = (
    Route("GET", "/kanbans", "kanbans", (*_PAGE, "accessible")),
    Route("POST", "/kanbans", "kanbans"),
    Route("GET", "/kanbans/{kanbanId}", "kanbans"),
    Route("PUT", "/kanbans/{kanbanId}", "kanbans"),
    Route("DELETE", "/kanbans/{kanbanId}", "kanbans"),
    Route("GET", "/crm/records", "records", ("kanbanId", "status", "assignedUserId", *_PAGE)),
    Route("POST", "/crm/records", "records", ("kanbanId",)),
    Route("GET", "/crm/records/{recordId}", "records"),
    Route("PUT", "/crm/records/{recordId}", "records"),
    Route("DELETE", "/crm/records/{recordId}", "records"),
    Route("GET", "/crm/fields", "meta", ("kanbanId", "all")),
    Route("GET", "/crm/statuses", "meta", ("kanbanId",)),
    Route("GET", "/users", "admin", _PAGE),
    Route("POST", "/users", "admin"),
    Route("GET", "/users/{userId}", "admin"),
    Route("PUT", "/users/{userId}", "admin"),
    Route("DELETE", "/users/{userId}", "admin"),
    Route("GET", "/tokens", "admin", _PAGE),
    Route("POST", "/tokens", "admin"),
    Route("DELETE", "/tokens/{tokenId}", "admin"),
    Route("GET", "/crm/search", "search",
          ("q", "kanbanId", "status", "page", "pageSize", "customFieldId", "customFieldValue")),
    Route("GET", "/crm/search/aggregations", "search", ("kanbanId",)),
)


@dataclass(frozen=True)
class Match:
    route: Route | None
    """The route for this method, or None when the path exists only with other methods."""
    path_parameters: dict[str, str]
    allowed_methods: tuple[str, ...]
    group: str
    """The route group serving this path (all methods of a path belong to one group)."""


@cache
def _path_pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "/?$")


def match(method: str, path: str) -> Match | None:
    """Find the route for a request path; None when no route has that path at all."""
    candidates = []
    for route in ROUTES:
        found = _path_pattern(route.path).match(path)
        if found:
            candidates.append((route, found.groupdict()))
    if not candidates:
        return None
    # A literal path wins over a template ("/crm/records" over "/crm/{x}"), as in API Gateway.
    best_path = min({r.path for r, _ in candidates}, key=lambda p: p.count("{"))
    same_path = [(r, params) for r, params in candidates if r.path == best_path]
    allowed = tuple(r.method for r, _ in same_path)
    route = next((r for r, _ in same_path if r.method == method), None)
    return Match(route, same_path[0][1], allowed, same_path[0][0].group)


def route_for(method: str, resource: str) -> Route | None:
    """The route declared for an API Gateway resource template and method."""
    return next((r for r in ROUTES if r.method == method and r.path == resource), None)


def routes_of(group: str) -> list[Route]:
    return [r for r in ROUTES if r.group == group]
