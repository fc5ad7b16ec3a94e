"""The one resolver factory every API function uses, so all of them answer errors, unknown
parameters and unknown routes the same way, in the documented error format."""

import json
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import ValidationError

from shared import routes
from shared.errors import (
    DomainError,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    ValidationFailed,
    error_body,
)
from shared.logic import rate_limits
from shared.models.domain import Principal

logger = Logger()

# Query parameters shared by every paginated list.
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page (1-100)")]
NextToken = Annotated[str | None, Query(max_length=4096, description="nextToken of the previous page")]
OptionalId = Annotated[str | None, Query(max_length=200)]


def _error_response(status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(error_body(status, message)),
        headers=headers,
    )


def _describe_validation_error(error: dict[str, Any]) -> str:
    """Turn one pydantic error into a sentence that names the parameter or body field."""
    location = [str(part) for part in error.get("loc", ())]
    source = location[0] if location else ""
    path = ".".join(location[1:])
    kind = error.get("type", "")
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    if source == "body" and not path:
        return {
            "json_invalid": "the request body is not valid JSON",
            "missing": "a JSON request body is required",
            "model_attributes_type": "the request body must be a JSON object",
            "model_type": "the request body must be a JSON object",
        }.get(kind, message)
    if kind == "missing":
        return f"{path} is required"
    if kind == "extra_forbidden":
        return f"{path} is not a known field"
    return f"{path}: {message}" if path else message


def _reject_unknown_query_parameters(app: APIGatewayRestResolver, next_middleware):
    """Each route declares its query parameters in the route table; a typo is a 400, not ignored."""
    event = app.current_event
    route = routes.route_for(event.http_method, event.resource)
    allowed = set(route.query) if route else set()
    given = event.multi_value_query_string_parameters or {}
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValidationFailed(
            f"unknown query parameter {', '.join(unknown)}"
            + (f"; this route accepts {', '.join(sorted(allowed))}" if allowed else "; this route takes none")
        )
    repeated = sorted(name for name, values in given.items() if len(values) > 1)
    if repeated:
        raise ValidationFailed(f"query parameter {', '.join(repeated)} given more than once")
    return next_middleware(app)


class JsonApiResolver(APIGatewayRestResolver):
    """Counts every request against its account's rate limits before anything else, and reads bodies
    as JSON whatever Content-Type the client sent (curl -d sends a form type), so a body is never
    misread as a form and a malformed one is reported as invalid JSON."""

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        principal = principal_from_event(event)
        quota_headers: dict[str, str] = {}
        if principal is not None:
            try:
                quota_headers = rate_limits.consume(principal.account_id).headers()
            except DomainError as refused:
                return _lambda_error(refused)
            except Exception:
                logger.exception("rate limit check failed")
                return _lambda_error(DomainError("an unexpected error occurred while checking rate limits"))
        if _has_unpaired_surrogate(event.get("body")):
            return _lambda_error(ValidationFailed("the request body holds text that is not valid Unicode"))
        if event.get("body") is not None:
            headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
            multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() != "content-type"}
            event = {
                **event,
                "headers": {**headers, "Content-Type": "application/json"},
                "multiValueHeaders": {**multi, "Content-Type": ["application/json"]},
            }
        response = super().resolve(event, context)
        response.setdefault("multiValueHeaders", {}).update({k: [v] for k, v in quota_headers.items()})
        return response


def _has_unpaired_surrogate(body: str | None) -> bool:
    """A JSON escape such as \\ud800 decodes to text that can be neither stored nor sent on."""
    if not body or "\\u" not in body:
        return False
    try:
        json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except ValueError:  # not JSON: request validation answers that
        return False
    return False


def _lambda_error(error: DomainError) -> dict[str, Any]:
    """A proxy-integration response in the documented error format, outside the router."""
    return {
        "statusCode": error.status.value,
        "multiValueHeaders": {"Content-Type": [content_types.APPLICATION_JSON],
                              **{k: [v] for k, v in error.headers.items()}},
        "body": json.dumps(error_body(error.status, error.message)),
        "isBase64Encoded": False,
    }


def build_app() -> APIGatewayRestResolver:
    app = JsonApiResolver(
        enable_validation=True,
        cors=CORSConfig(allow_origin="*", allow_headers=["Authorization", "Content-Type"], max_age=600),
    )
    app.use(middlewares=[_reject_unknown_query_parameters])

    @app.exception_handler(DomainError)
    def _domain_error(error: DomainError) -> Response:
        return _error_response(error.status, error.message, error.headers)

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

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        request_id = app.current_event.request_context.request_id
        return _error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, f"an unexpected error occurred (request id {request_id})"
        )

    return app


def principal_from_event(event: dict[str, Any]) -> Principal | None:
    """The caller, as the authorizer put it into the request context (None without one)."""
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    try:
        return Principal(
            account_id=context["accountId"], user_id=context["userId"], role=context["role"],
            token_id=context["tokenId"],
        )
    except (KeyError, ValidationError):
        return None


def current_principal(app: APIGatewayRestResolver) -> Principal:
    principal = principal_from_event(app.current_event.raw_event)
    if principal is None:
        raise Unauthorized("the request carries no authorized principal")
    return principal


def created(body: Any) -> Response:
    return Response(status_code=HTTPStatus.CREATED.value, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body))
