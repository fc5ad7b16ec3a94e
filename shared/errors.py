"""Domain errors and the one table that maps them to HTTP statuses."""

from http import HTTPStatus


class DomainError(Exception):
    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(self, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    @property
    def error(self) -> str:
        return reason_phrase(self.status)


class ValidationFailed(DomainError):
    status = HTTPStatus.BAD_REQUEST


class Unauthorized(DomainError):
    status = HTTPStatus.UNAUTHORIZED


class Forbidden(DomainError):
    status = HTTPStatus.FORBIDDEN


class RateLimited(Forbidden):
    """The reference answers an exhausted rate limit with 403, not 429."""


class NotFound(DomainError):
    status = HTTPStatus.NOT_FOUND


class MethodNotAllowed(DomainError):
    status = HTTPStatus.METHOD_NOT_ALLOWED


class Conflict(DomainError):
    status = HTTPStatus.CONFLICT


class IdempotencyKeyReused(DomainError):
    """An Idempotency-Key sent again with another method, path, query or body than its first request."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY


class ServiceUnavailable(DomainError):
    """A dependency is unreachable or too slow; the client should retry after a pause."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    retry_after_seconds = 5

    def __init__(self, message: str, headers: dict[str, str] | None = None):
        super().__init__(message, {"Retry-After": str(self.retry_after_seconds), **(headers or {})})


# What every 401 says, deployed (API Gateway's response to the authorizer's denial) and local alike.
UNAUTHORIZED_MESSAGE = (
    "missing, invalid or revoked API token; send the header 'Authorization: Bearer <token>' "
    "(other schemes, such as Basic, are not accepted)"
)


# Python 3.13, the functions' runtime, renamed some reason phrases after RFC 9110 (422 "Unprocessable
# Content", 413 "Content Too Large"); the API keeps the phrases it documents, whatever Python it runs on.
_REASON_PHRASES = {
    HTTPStatus.UNPROCESSABLE_ENTITY: "Unprocessable Entity",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "Request Entity Too Large",
}


def error_body(status: HTTPStatus, message: str) -> dict[str, str]:
    """The documented error format: {"error": "<reason phrase>", "message": "..."}."""
    return {"error": reason_phrase(status), "message": message}


def reason_phrase(status: int) -> str:
    return _REASON_PHRASES.get(HTTPStatus(status), HTTPStatus(status).phrase)


class IdempotentRequestInProgress(Conflict):
    """The first request with this Idempotency-Key is still running; nothing was done."""


class ConcurrentUpdate(Conflict):
    """Someone else changed the item between our read and our write; the caller may re-read and retry."""


class PreconditionFailed(DomainError):
    """The item is not at a version the request's If-Match names; nothing was written."""

    status = HTTPStatus.PRECONDITION_FAILED
