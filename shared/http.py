"""The one resolver factory every API function uses, so all of them answer errors, unknown
parameters and unknown routes the same way, in the documented error format."""

import base64
import binascii
import inspect
import json
import re
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError, ResponseValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import ValidationError

from shared import conditional, idempotency, request_budget, routes
from shared.errors import (
    DomainError,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    ValidationFailed,
    error_body,
)
from shared.logic import access, rate_limits, shared_reads
from shared.models.api import ErrorResponse
from shared.models.domain import Principal, StatusValue

logger = Logger()

# Query parameters shared by every paginated list.
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page (1-100)")]
NextToken = Annotated[str | None, Query(max_length=4096, description="nextToken of the previous page")]
OptionalId = Annotated[str | None, Query(max_length=200)]
# A status to filter by: the shape of every status value, so a malformed one is refused as a parameter.
StatusFilter = Annotated[StatusValue | None, Query(description="Only records with this status")]


def to_json(body: Any) -> str:
    """The one JSON form of every answer body: compact, UTF-8 text kept as it is."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _error_response(status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> Response:
    request_id = BaseRouter.current_event.request_context.request_id
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=to_json(error_body(status, _message(status, message, request_id))),
        headers=headers,
    )


def error_result(error: DomainError | ValidationError, location: tuple[str | int, ...]) -> tuple[int, dict[str, str]]:
    """The status and error body a route answers a failure with, for one part of a request (a batch
    operation): a domain error as its status says, the ValidationError of a body at `location` as a 400."""
    if isinstance(error, ValidationError):
        message = "; ".join(_describe_validation_error({**e, "loc": ("body", *location, *e["loc"])})
                            for e in error.errors())
        return HTTPStatus.BAD_REQUEST.value, error_body(HTTPStatus.BAD_REQUEST, message)
    request_id = BaseRouter.current_event.request_context.request_id
    return error.status.value, error_body(error.status, _message(error.status, error.message, request_id))


# What each status means, wherever a route can answer it (the OpenAPI document's descriptions).
STATUS_MEANINGS: dict[int, str] = {
    200: "OK",
    201: "Created",
    202: "Accepted: queued; the answer says its current state",
    304: "Not Modified: the item's ETag is one If-None-Match names; no body",
    400: "A parameter or the body is invalid; the message names it",
    401: "The Authorization header is missing, or its token is invalid or revoked",
    403: "The account's rate limit is exhausted (with Retry-After), or the caller may not use this kanban or route",
    404: "The resource, or a kanban or user the request names, does not exist in this account",
    409: "The write conflicts with the current state, or the first request with this Idempotency-Key is still "
         "in progress; the message says which",
    412: "Precondition Failed: the item is not at a version If-Match names; nothing was written",
    413: "The request is larger than the API accepts (6 MB)",
    422: "This Idempotency-Key was already used for a different request (method, path, query or body)",
    500: "An unexpected failure; the message carries the request id",
    503: "The database or the search index did not answer in time; retry after Retry-After seconds",
}


def _openapi_metadata(route: routes.Route) -> dict[str, Any]:
    """The route's OpenAPI metadata, from the route table: the operation, its statuses and security."""
    responses: dict[int, dict[str, Any]] = {}
    for status in route.statuses:
        responses[status] = {"description": STATUS_MEANINGS[status]}
        if status >= 400:
            responses[status]["content"] = {content_types.APPLICATION_JSON: {"model": ErrorResponse}}
    return {
        "operation_id": route.operation,
        "summary": route.summary,
        "tags": [route.group],
        "status_code": route.status,
        "responses": responses,
        "security": [] if route.public else [{BEARER_SCHEME: []}],
        **({"description": route.description} if route.description else {}),
    }


BEARER_SCHEME = "bearerAuth"
API_TITLE = "CRM records API"
API_VERSION = "1.0.0"


def _describe_validation_error(error: dict[str, Any]) -> str:
    """Turn one pydantic error into a sentence that names the parameter or body field."""
    location = [str(part) for part in error.get("loc", ())]
    source = location[0] if location else ""
    path = ".".join(location[1:])
    kind = error.get("type", "")
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    if source == "body" and not path:
        # The body is already known to be one JSON object or empty (see _checked_json).
        return "a JSON request body is required" if kind == "missing" else message
    if kind == "missing":
        return f"{path} is required"
    if kind == "extra_forbidden":
        return f"{path} is not a known field"
    return f"{path}: {message}" if path else message


def _check_query_parameters(event: dict[str, Any]) -> None:
    """Each route declares its query parameters in the route table: a typo is a 400, not ignored, and
    so is a parameter given twice (before validation, which would only see a list)."""
    route = routes.route_for(event.get("httpMethod", ""), event.get("resource", ""))
    if route is None:
        return  # the router answers 404 or 405
    allowed = set(route.query)
    given = event.get("multiValueQueryStringParameters") or {}
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValidationFailed(
            f"unknown query parameter {', '.join(unknown)}"
            + (f"; this route accepts {', '.join(sorted(allowed))}" if allowed else "; this route takes none")
        )
    repeated = sorted(name for name, values in given.items() if len(values) > 1)
    if repeated:
        raise ValidationFailed(
            f"query parameter {', '.join(repeated)} is repeated; give each query parameter once"
        )


def _check_method(event: dict[str, Any]) -> None:
    """A method the route table does not declare for the path is a 405, also where the router would take
    the path for a template's (GET /crm/records/batch is not GET /crm/records/{recordId})."""
    method, path = event.get("httpMethod", ""), event.get("path", "")
    found = routes.match(method, path)
    if method != "OPTIONS" and found is not None and found.route is None:
        raise MethodNotAllowed(f"{method} is not allowed on {path}", {"Allow": ", ".join(found.allowed_methods)})


# Deeper bodies are refused before validation: no request body of this API nests more than a few
# levels, and DynamoDB stores at most 32.
MAX_BODY_DEPTH = 16
# Longer integers are refused before they are converted (storage holds 38 significant digits).
MAX_INTEGER_DIGITS = 100


class JsonApiResolver(APIGatewayRestResolver):
    """Before any route runs: confirms the caller against current data, counts the request against
    its account's rate limits, and reads the body strictly (UTF-8, one JSON object, bounded depth and
    numbers), whatever Content-Type the client sent (curl -d sends a form type). Each request gets a
    time budget (request_budget), so a slow dependency is a 503 rather than the gateway's 504."""

    def route(self, rule: str, method: Any, *args: Any, **kwargs: Any):
        """Every route gets its OpenAPI metadata from the route table, which must declare it."""
        declared = routes.route_for(str(method).upper(), re.sub(r"<(\w+)>", r"{\1}", rule))
        if declared is None:
            raise LookupError(f"{method} {rule} is not in the route table (shared/routes.py)")
        arguments = inspect.signature(super().route).bind(rule, method, *args, **kwargs).arguments
        return super().route(**{**arguments, **_openapi_metadata(declared)})

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        request_id = str((event.get("requestContext") or {}).get("requestId") or "unknown")
        quota_headers: dict[str, str] = {}
        with request_budget.limited():
            try:
                claimed = principal_from_event(event)
                principal = None
                if claimed is not None:
                    principal, account = access.confirm(claimed)
                    quota_headers = rate_limits.consume(account).headers()
                _check_query_parameters(event)
                _check_method(event)
                event = _with_checked_body(event)
                key = idempotency.key_of(event) if principal is not None else None
            except DomainError as refused:
                return _lambda_error(refused, request_id, quota_headers)
            except Exception:
                logger.exception("request checks failed")
                return _lambda_error(DomainError("an unexpected error occurred"), request_id, quota_headers)
            resolve = super().resolve

            def route() -> dict[str, Any]:
                if principal is None:
                    return resolve(event, context)
                self.append_context(principal=principal)
                with shared_reads.confirmed(account):  # what confirming the caller read is not read again
                    return resolve(event, context)

            if principal is None or key is None:
                response = route()
            else:
                # Imported by the first keyed request: requests without a key never load the utility.
                from shared.idempotent_answers import answer_once

                try:
                    response = answer_once(
                        event, principal.account_id, principal.user_id, key, context, route,
                        lambda error: _lambda_error(error, request_id, quota_headers),
                    )
                except DomainError as refused:
                    return _lambda_error(refused, request_id, quota_headers)
                except Exception:
                    logger.exception("an idempotent request failed")
                    return _lambda_error(DomainError("an unexpected error occurred"), request_id, quota_headers)
        response.setdefault("multiValueHeaders", {}).update({k: [v] for k, v in quota_headers.items()})
        return response


class _BodyRejected(ValueError):
    pass


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _BodyRejected(f"the request body holds an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _not_a_json_number(name: str) -> Any:
    raise _BodyRejected(f"the request body is not valid JSON: {name} is not a JSON number")


def _depth_exceeds(value: Any, limit: int) -> bool:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in children)
    return False


def _checked_json(text: str) -> None:
    """Raise ValidationFailed unless the text is one JSON object the API can read and store as sent."""
    try:
        parsed = json.loads(text, parse_int=_integer, parse_constant=_not_a_json_number)
    except _BodyRejected as rejected:
        raise ValidationFailed(str(rejected)) from None
    except RecursionError:
        raise ValidationFailed(f"the request body is nested too deeply (at most {MAX_BODY_DEPTH} levels)") from None
    except json.JSONDecodeError as invalid:
        raise ValidationFailed(
            f"the request body is not valid JSON: {invalid.msg} (line {invalid.lineno}, column {invalid.colno})"
        ) from None
    if not isinstance(parsed, dict):
        raise ValidationFailed(f"the request body must be a JSON object, not {_json_type(parsed)}")
    if _depth_exceeds(parsed, MAX_BODY_DEPTH):
        raise ValidationFailed(f"the request body is nested too deeply (at most {MAX_BODY_DEPTH} levels)")
    if "\\u" in text:
        try:
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            # A JSON escape such as \ud800 decodes to text that can be neither stored nor sent on.
            raise ValidationFailed("the request body holds text that is not valid Unicode") from None


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _with_checked_body(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its body as checked text and marked as JSON. API Gateway hands every body over
    base64-encoded (binary media type */*), so invalid UTF-8 is seen here instead of being replaced."""
    body = event.get("body")
    if body is None:
        return event
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except binascii.Error:
            raise ValidationFailed("the request body could not be decoded") from None
        except UnicodeDecodeError as invalid:
            raise ValidationFailed(f"the request body is not valid UTF-8 (byte {invalid.start})") from None
    if body.strip():
        _checked_json(body)
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() != "content-type"}
    return {
        **event,
        "body": body,
        "isBase64Encoded": False,
        "headers": {**headers, "Content-Type": "application/json"},
        "multiValueHeaders": {**multi, "Content-Type": ["application/json"]},
    }


def _message(status: HTTPStatus, message: str, request_id: str) -> str:
    """Server-side failures name the request id, so a report can be matched with the logs."""
    return f"{message} (request id {request_id})" if status >= 500 else message


def _lambda_error(error: DomainError, request_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A proxy-integration response in the documented error format, outside the router."""
    all_headers = {"Content-Type": content_types.APPLICATION_JSON, **(headers or {}), **error.headers}
    return {
        "statusCode": error.status.value,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "body": to_json(error_body(error.status, _message(error.status, error.message, request_id))),
        "isBase64Encoded": False,
    }


# Sent (with "true") when a search answer's total is a lower bound: an exact lookup counts the matches past
# its page only up to a cap (shared.logic.search.LOOKUP_COUNT_AT_MOST). The body keeps the reference's shape.
TOTAL_IS_CAPPED = "X-Total-Is-Capped"


def build_app() -> APIGatewayRestResolver:
    app = JsonApiResolver(
        enable_validation=True,
        serializer=to_json,
        # A response that breaks its declared model is our failure (500), never the client's (400).
        response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR,
        cors=CORSConfig(
            allow_origin="*", allow_headers=["Authorization", "Content-Type", idempotency.HEADER, *conditional.HEADERS],
            expose_headers=[conditional.ETAG, TOTAL_IS_CAPPED], max_age=600,
        ),
    )

    @app.exception_handler(DomainError)
    def _domain_error(error: DomainError) -> Response:
        return _error_response(error.status, error.message, error.headers)

    @app.exception_handler(conditional.NotModified)
    def _not_modified(answer: conditional.NotModified) -> Response:
        return Response(status_code=HTTPStatus.NOT_MODIFIED.value, headers={conditional.ETAG: answer.etag})

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        return _error_response(HTTPStatus.BAD_REQUEST, "; ".join(_describe_validation_error(e) for e in error.errors()))

    @app.exception_handler(ValidationError)
    def _invalid_model(error: ValidationError) -> Response:
        return _error_response(
            HTTPStatus.BAD_REQUEST, "; ".join(_describe_validation_error(dict(e)) for e in error.errors())
        )

    @app.not_found
    def _no_route(_: NotFoundError) -> Response:
        event = app.current_event
        found = routes.match(event.http_method, event.path)
        if found is not None and found.route is None:
            error: DomainError = MethodNotAllowed(f"{event.http_method} is not allowed on {event.path}")
            return _error_response(error.status, error.message, {"Allow": ", ".join(found.allowed_methods)})
        error = NotFound(f"no route for {event.http_method} {event.path}")
        return _error_response(error.status, error.message)

    @app.exception_handler(ResponseValidationError)
    def _invalid_response(error: ResponseValidationError) -> Response:
        logger.error("a response does not match its model", extra={"errors": error.errors()})
        return _error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "an unexpected error occurred")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return _error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "an unexpected error occurred")

    return app


def principal_from_event(event: dict[str, Any]) -> Principal | None:
    """The caller, as the authorizer put it into the request context (None without one): who the token
    belonged to when the gateway cached the authorizer's answer, to be confirmed (access.confirm)."""
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    try:
        return Principal(
            account_id=context["accountId"], user_id=context["userId"], role=context["role"],
            token_id=context["tokenId"],
        )
    except (KeyError, ValidationError):
        return None


def current_principal(app: APIGatewayRestResolver) -> Principal:
    """The caller as confirmed against current data for this request."""
    principal = app.context.get("principal")
    if principal is None:
        raise Unauthorized("the request carries no authorized principal")
    return principal
