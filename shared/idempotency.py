"""Idempotency-Key (the IETF httpapi draft's semantics) on every POST, PUT and DELETE.

A key is an opaque string of 1 to 255 printable ASCII characters (spaces only inside), scoped to the
caller's account and kept for 24 hours. The first request with a key runs and its answer is kept; a
later request with the same key and the same method, path, query and body (the body as JSON: key
order and spacing aside) gets that answer again, status, body and headers (ETag included), plus
`Idempotent-Replayed: true`, and writes nothing. The same key with another request is a 422; while
its first request still runs, a 409. Answers of every status below 500 are kept, as the draft keeps
every answer: a retry of a refused write is refused the same way. A 5xx is not kept, so the retry it
asks for runs again. An answer too large to keep even compressed (a batch of many large records) is
replaced, for replays, by a 409 saying that the request ran: never run twice, never answered wrongly.

Powertools' idempotency utility does the work: the key record, its states (in progress, completed),
the payload check and the expiry. The routing runs as the idempotent function, whatever route group's
function serves the request: the same key prefix in all of them makes a key one key across the API.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.shared.json_encoder import Encoder
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from shared import routes
from shared.errors import (
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
    ServiceUnavailable,
    ValidationFailed,
)
from shared.repository.idempotency import idempotency_store, keepable

logger = Logger()

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = ("POST", "PUT", "DELETE")
MAX_KEY_LENGTH = 255
# Printable ASCII, spaces only between other characters (HTTP trims a header value's ends anyway).
KEY_PATTERN = rf"^[!-~]([ -~]{{0,{MAX_KEY_LENGTH - 2}}}[!-~])?$"
KEPT_SECONDS = 24 * 60 * 60
# One prefix for every function, so a key used on one route group is the same key on any other.
_KEY_PREFIX = "idempotency-key"


def key_of(event: dict[str, Any]) -> str | None:
    """The request's Idempotency-Key (the header's name in any case); None for a request without one
    or one that is not a write of the route table. A malformed key is a 400."""
    method = event.get("httpMethod", "")
    if method not in METHODS or routes.route_for(method, event.get("resource", "")) is None:
        return None
    headers = event.get("multiValueHeaders") or {k: [v] for k, v in (event.get("headers") or {}).items()}
    values = [value for name, given in headers.items() if name.lower() == HEADER.lower() for value in given]
    if not values:
        return None
    if len(values) > 1:
        raise ValidationFailed(f"the {HEADER} header is repeated; send it once")
    if not re.fullmatch(KEY_PATTERN, values[0]):
        raise ValidationFailed(
            f"the {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, not starting or ending "
            "with a space"
        )
    return values[0]


@dataclass
class _Outcome:
    response: dict[str, Any] | None = None


class _NotKept(Exception):
    """Raised from the idempotent function so that Powertools drops the key record (a 5xx)."""


def _fingerprint(event: dict[str, Any]) -> dict[str, Any]:
    """What makes a request the same request: method, path, query and the body (checked JSON text)."""
    body = event.get("body") or ""
    return {
        "method": event.get("httpMethod"),
        "path": event.get("path"),
        "query": event.get("multiValueQueryStringParameters") or {},
        "body": json.loads(body) if body.strip() else None,
    }


Refusal = Callable[[DomainError], dict[str, Any]]


def _route(*, request: dict[str, Any], route: Callable[[], dict[str, Any]], outcome: _Outcome,
           refusal: Refusal) -> dict[str, Any]:
    """The idempotent function: the request as the router answers it, kept unless it is a 5xx; what is
    kept of an answer too large to keep is a 409 that says so."""
    outcome.response = route()
    if outcome.response["statusCode"] >= 500:
        raise _NotKept
    answer = json.dumps(outcome.response, cls=Encoder, sort_keys=True)
    if keepable(answer):
        return outcome.response
    return refusal(Conflict(
        f"the request with this {HEADER} ran and was answered {outcome.response['statusCode']}, but its answer "
        f"({len(answer):,} characters) was too large to keep for a replay; it was not run again: read what it "
        "wrote instead"
    ))


def _replayed(response: dict[str, Any], _: DataRecord) -> dict[str, Any]:
    response.setdefault("multiValueHeaders", {})[REPLAYED_HEADER] = ["true"]
    return response


def answer_once(
    event: dict[str, Any], account_id: str, user_id: str, key: str, context: Any,
    route: Callable[[], dict[str, Any]], refusal: Refusal,
) -> dict[str, Any]:
    """The answer to a keyed request: route() runs for the first request with the key of this user of
    this account, any later request gets its kept answer (IdempotencyKeyReused for another request, 409
    while the first still runs). Keys are the caller's own: a replay skips the route's access checks,
    so another user of the account must never be answered with a kept answer (a new token's secret).
    `refusal` makes the error answer kept in place of an answer too large to keep."""
    once = idempotent_function(
        _route,
        data_keyword_argument="request",
        persistence_store=idempotency_store(),
        config=IdempotencyConfig(
            event_key_jmespath="[account, user, key]",
            payload_validation_jmespath="request",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=KEPT_SECONDS,
            lambda_context=context,
            response_hook=_replayed,
        ),
        key_prefix=_KEY_PREFIX,
    )
    outcome = _Outcome()
    try:
        kept = once(request={"account": account_id, "user": user_id, "key": key, "request": _fingerprint(event)},
                    route=route, outcome=outcome, refusal=refusal)
        return outcome.response if outcome.response is not None else kept
    except _NotKept:
        return outcome.response  # type: ignore[return-value]
    except IdempotencyValidationError:
        raise IdempotencyKeyReused(
            f"this {HEADER} was used for a different request (method, path, query or body); "
            "use a new key for a new request"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotentRequestInProgress(
            f"the first request with this {HEADER} is still in progress; retry once it has been answered"
        ) from None
    except (IdempotencyPersistenceLayerError, IdempotencyInconsistentStateError) as failed:
        if outcome.response is not None:
            # The request ran and is answered; only keeping (or dropping) its answer failed.
            logger.warning("the answer of a request with an Idempotency-Key was not kept", exc_info=failed)
            return outcome.response
        logger.warning("the idempotency table did not answer", exc_info=failed)
        raise ServiceUnavailable("the database is not answering in time; retry shortly") from failed
