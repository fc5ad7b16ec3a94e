"""The route table: the one place that says which path and method is served by which function.

The local gateway routes with it and the CDK app builds API Gateway resources from it, so local
and deployed routing cannot drift. Each route also lists the query parameters it accepts; any other
parameter is rejected with a 400 instead of being silently ignored.
"""

import re
from dataclasses import dataclass, field
from functools import cache

# Errors any route that takes a token can answer: a bad parameter, a missing or revoked token, an
# exhausted rate limit or missing rights, a failure, and a database or index that does not answer.
_ALWAYS = (400, 401, 403, 500, 503)


@dataclass(frozen=True)
class Route:
    """One operation of the API: what serves it, what it accepts and every status it can answer.
    The functions' OpenAPI metadata, the document and the CDK methods all come from here."""

    method: str
    path: str
    group: str
    operation: str
    summary: str
    query: tuple[str, ...] = field(default=())
    status: int = 200
    """The status of success."""
    also: tuple[int, ...] = ()
    """Other statuses that are no error (POST /crm/records answers 200 with the record a channelId already
    has; a GET with a current If-None-Match answers 304)."""
    errors: tuple[int, ...] = _ALWAYS
    etag: bool = False
    """Its answers of success (and 304) carry the item's version as ETag (shared.conditional)."""
    public: bool = False
    """Served without a token and without counting against rate limits (the API's documentation)."""
    description: str = ""
    """What the operation does beyond its summary, for the OpenAPI document."""

    @property
    def statuses(self) -> tuple[int, ...]:
        return tuple(sorted({self.status, *self.also, *self.errors}))


# Route group -> the Lambda handler serving it ("module:function").
ROUTE_GROUP_HANDLERS: dict[str, str] = {
    "kanbans": "functions.kanbans.handler:handler",
    "records": "functions.records.handler:handler",
    "meta": "functions.meta.handler:handler",
    "admin": "functions.admin.handler:handler",
    "search": "functions.search.handler:handler",
    "docs": "functions.docs.handler:handler",
    "changes": "functions.changes.handler:handler",
    "webhooks": "functions.webhooks.handler:handler",
}
AUTHORIZER_HANDLER = "functions.authorizer.handler:handler"
# Fed by the table's stream, not by a route.
INDEXER_HANDLER = "functions.indexer.handler:handler"
# Fed by the table's stream too: records each change in the history and the change feed, and publishes it.
EVENTS_HANDLER = "functions.events.handler:handler"
# Fed by the SQS queue of webhook deliveries: makes one delivery attempt per message.
DELIVERIES_HANDLER = "functions.deliveries.handler:handler"
# Run on a schedule: checks the search index against the table and repairs it.
VERIFIER_HANDLER = "functions.verifier.handler:handler"
# How long API Gateway (and the local gateway) reuse an authorizer result for a token. The result only
# identifies the token: every function confirms the token and its user against the table on each
# request, so a revocation or a change of rights takes effect at once.
AUTHORIZER_CACHE_SECONDS = 60
# Function timeouts (the CDK app and the local gateway): API functions answer well inside API
# Gateway's 29 s integration limit; the stream consumers (indexer, events) work within the same bound.
API_FUNCTION_TIMEOUT_SECONDS = 10
INDEXER_TIMEOUT_SECONDS = 29
# The delivery worker takes up to DELIVERY_BATCH_SIZE messages, each an HTTP POST of at most 10 s.
DELIVERY_BATCH_SIZE = 5
DELIVERIES_TIMEOUT_SECONDS = 60
# Lambda refuses a synchronous invocation whose event is larger than this (the caller gets 413).
MAX_EVENT_BYTES = 6 * 1024 * 1024

_PAGE = ("limit", "nextToken")
# Statuses beyond _ALWAYS: 404 for an unknown id (in the path, or kanbanId/userId in the query or body),
# 409 for a write that conflicts with the current state, 413 for a body over Lambda's payload limit,
# 412 for a write to a record or kanban whose version If-Match does not name.
_READ_ONE = (*_ALWAYS, 404)
# Every write takes an Idempotency-Key (shared.idempotency): 409 while the key's first request runs,
# 422 for the key sent with another request.
_WRITE = (*_ALWAYS, 404, 409, 413, 422)
_DELETE = (*_ALWAYS, 404, 409, 422)
_WRITE_IF_MATCH = (*_WRITE, 412)
_DELETE_IF_MATCH = (*_DELETE, 412)

ROUTES: tuple[Route, ...] = (
    Route("GET", "/kanbans", "kanbans", "listKanbans", "List kanbans", (*_PAGE, "accessible")),
    Route("POST", "/kanbans", "kanbans", "createKanban", "Create a kanban", status=201, errors=_WRITE, etag=True),
    Route("GET", "/kanbans/{kanbanId}", "kanbans", "getKanban", "Get a kanban", also=(304,), errors=_READ_ONE,
          etag=True),
    Route("PUT", "/kanbans/{kanbanId}", "kanbans", "updateKanban", "Update a kanban", errors=_WRITE_IF_MATCH,
          etag=True),
    Route("DELETE", "/kanbans/{kanbanId}", "kanbans", "deleteKanban", "Delete a kanban", errors=_DELETE_IF_MATCH),
    Route("GET", "/crm/records", "records", "listRecords", "List records",
          ("kanbanId", "status", "assignedUserId", *_PAGE, "deleted"), errors=_READ_ONE, description=(
              "Records newest first, filtered by any combination of kanbanId, status and assignedUserId. With "
              "deleted=true, the trash instead (TrashPage): deleted records with deletedAt and deletedBy, newest "
              "deletion first, with the same filters; each stays there 30 days, until restored or purged.")),
    Route("POST", "/crm/records", "records", "createRecord", "Create a record", ("kanbanId", "upsert"), status=201,
          also=(200,), errors=_WRITE, etag=True, description=(
              "Creates a record (201). A channelId that already has a record in the kanban answers that record "
              "(200) instead of creating a second one. A value of a unique field that another record holds is a "
              "409 naming that record. With upsert=true, the record the channelId, or else a unique value, "
              "matches gets the body as an update (200); concurrent upserts of one key leave one record.")),
    # Each operation's failure is in its result; the request itself fails only as a whole (its envelope,
    # token, rate limit, size, Idempotency-Key, or the service).
    Route("POST", "/crm/records/batch", "records", "batchRecords", "Run up to 100 record operations",
          errors=(*_ALWAYS, 409, 413, 422), description=(
              "Runs 1 to 100 operations (create, update, delete, upsert) in order, each as its single-record route "
              "would and atomically on its own, and answers one result per operation: its status with the record (a "
              "delete's is the record as it went to the trash), or its status, error and message. The request "
              "counts once against the rate limits. A malformed envelope (an unknown action, more than 100 "
              "operations) is a 400 and runs nothing; an invalid record is its own operation's 400. Creates in a "
              "row are written together, in as few transactions as hold them; if a condition refuses one, its "
              "creates are written one by one. A 5xx result stops the batch: that operation (or the creates written "
              "with it) may or may not have been written, and the ones after it are answered 503, not run.")),
    Route("GET", "/crm/records/{recordId}", "records", "getRecord", "Get a record", also=(304,), errors=_READ_ONE,
          etag=True, description="With If-None-Match naming the current ETag: 304 and no body."),
    Route("PUT", "/crm/records/{recordId}", "records", "updateRecord", "Update a record", errors=_WRITE_IF_MATCH,
          etag=True, description=(
              "Changes only what the body sends; customFields are merged (null removes a field). With If-Match, "
              "the write happens only at a version it names (412 otherwise, nothing written).")),
    Route("DELETE", "/crm/records/{recordId}", "records", "deleteRecord", "Delete a record", ("permanent",),
          errors=_DELETE_IF_MATCH, description=(
              "Moves the record to the trash: it is gone at once from lists, search, lookups and counts, its "
              "channelId and unique values are free again, and it can be restored for 30 days, then it is purged. "
              "With If-Match, the record is deleted only at a version it names (412 otherwise). With "
              "permanent=true (admins only, 403 for a member), the record is deleted for good: a record in the "
              "trash is purged from it, a live one is moved to the trash and purged.")),
    Route("POST", "/crm/records/{recordId}/restore", "records", "restoreRecord", "Restore a deleted record",
          errors=(*_ALWAYS, 404, 409, 422), etag=True, description=(
              "Brings a record back from the trash as it was deleted, at a new version (its ETag), with the "
              "restorer as updatedBy. 404 if the record is not in the trash. 409, writing nothing, if another "
              "record has taken its channelId or a value of a unique field meanwhile (the message names the "
              "field or channelId and that record), or if its kanban or its status no longer exists.")),
    Route("GET", "/crm/fields", "meta", "listFields", "Get field definitions", ("kanbanId", "all"),
          errors=_READ_ONE),
    Route("GET", "/crm/statuses", "meta", "listStatuses", "Get statuses", ("kanbanId",), errors=_READ_ONE),
    Route("GET", "/users", "admin", "listUsers", "List users", _PAGE),
    Route("POST", "/users", "admin", "createUser", "Create a user", status=201, errors=_WRITE),
    Route("GET", "/users/{userId}", "admin", "getUser", "Get a user", errors=_READ_ONE),
    Route("PUT", "/users/{userId}", "admin", "updateUser", "Update a user", errors=_WRITE),
    Route("DELETE", "/users/{userId}", "admin", "deleteUser", "Delete a user and revoke their tokens",
          errors=_DELETE),
    Route("GET", "/tokens", "admin", "listTokens", "List API tokens", _PAGE),
    Route("POST", "/tokens", "admin", "createToken", "Create an API token", status=201, errors=_WRITE),
    Route("DELETE", "/tokens/{tokenId}", "admin", "revokeToken", "Revoke an API token", errors=_DELETE),
    Route("GET", "/crm/search", "search", "searchRecords", "Search records",
          ("q", "kanbanId", "status", "page", "pageSize", "customFieldId", "customFieldValue"), errors=_READ_ONE,
          description=(
              "With customFieldId and customFieldValue, an exact lookup: it reads its page and counts at most 100 "
              "matches past it, so its cost does not grow with the number of matches. When more remain, total is a "
              "lower bound (the page's end + 100) and the answer has the header X-Total-Is-Capped: true.")),
    Route("GET", "/crm/search/aggregations", "search", "getAggregations", "Get status counts", ("kanbanId",),
          errors=_READ_ONE),
    Route("GET", "/crm/records/{recordId}/history", "changes", "getRecordHistory", "A record's history", _PAGE,
          errors=_READ_ONE, description=(
              "Every version of the record, newest first: what happened (created, updated, deleted, restored), "
              "when, by whom and what changed. Also for records in the trash or purged; kept one year.")),
    Route("GET", "/crm/changes", "changes", "listChanges", "The change feed", ("since", "kanbanId", "limit"),
          errors=_READ_ONE, description=(
              "Every record change of the account in the order it was recorded, from the cursor `since` (a "
              "nextToken of an earlier answer; omitted: the oldest change kept, 30 days). nextToken is always "
              "given, also when there is nothing new: poll with it. Following it, a client sees every change at "
              "least once, and the changes of one record in version order. Members see only their kanbans.")),
    Route("GET", "/webhooks", "webhooks", "listWebhooks", "List webhooks", _PAGE),
    Route("POST", "/webhooks", "webhooks", "createWebhook", "Create a webhook", status=201, errors=_WRITE,
          description=(
              "Subscribes an https URL to record events (record.created, record.updated, record.deleted, "
              "record.restored, record.status_changed), optionally of one kanban. The URL's host must resolve "
              "to public addresses only. The answer carries the signing secret, shown only here.")),
    Route("GET", "/webhooks/{webhookId}", "webhooks", "getWebhook", "Get a webhook", errors=_READ_ONE),
    Route("PUT", "/webhooks/{webhookId}", "webhooks", "updateWebhook", "Update a webhook", errors=_WRITE,
          description="Changes url, events, kanbanId, description or active; active: true on an inactive "
                      "webhook reactivates it and starts its failure count from zero."),
    Route("DELETE", "/webhooks/{webhookId}", "webhooks", "deleteWebhook", "Delete a webhook", errors=_DELETE),
    Route("GET", "/webhooks/{webhookId}/deliveries", "webhooks", "listDeliveries", "List a webhook's deliveries",
          _PAGE, errors=_READ_ONE, description="Newest first; deliveries are kept 30 days."),
    Route("POST", "/webhooks/{webhookId}/deliveries/{deliveryId}/retry", "webhooks", "retryDelivery",
          "Send a delivery again now", status=202, errors=_WRITE, description=(
              "Queues the delivery's next attempt at once, whatever its status; it is pending until the "
              "attempt's outcome is recorded.")),
    Route("POST", "/webhooks/{webhookId}/test", "webhooks", "testWebhook", "Send a ping event", status=202,
          errors=_WRITE, description="Queues a delivery of a ping event (type \"ping\") to the webhook, "
                                     "active or not, and answers it."),
    Route("GET", "/openapi.json", "docs", "getOpenApiDocument", "This OpenAPI document", errors=(500,),
          public=True),
    Route("GET", "/docs", "docs", "getDocsPage", "The API's documentation page", errors=(500,), public=True),
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
