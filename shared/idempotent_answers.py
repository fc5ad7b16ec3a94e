"""Answers to requests with an Idempotency-Key (shared.idempotency has the key's contract).

Powertools' idempotency utility does the work: the key record, its states (in progress, completed),
the payload check and the expiry. The routing runs as the idempotent function, whatever route group's
function serves the request: the same key prefix in all of them makes a key one key across the API.
The resolver imports this module on the first keyed request, so requests without a key (most, and every
read) never load the utility; the idempotent function and its configuration are built once per process.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
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

from shared.errors import (
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
    ServiceUnavailable,
)
from shared.idempotency import HEADER, KEPT_SECONDS, REPLAYED_HEADER
from shared.repository.idempotency import idempotency_store, keepable

logger = Logger()

# One prefix for every function, so a key used on one route group is the same key on any other.
_KEY_PREFIX = "idempotency-key"


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


@cache
def _idempotent_route() -> tuple[Callable[..., dict[str, Any]], IdempotencyConfig]:
    """The routing as Powertools' idempotent function, and its configuration (the Lambda context is
    registered per request)."""
    config = IdempotencyConfig(
        event_key_jmespath="[account, user, key]",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=KEPT_SECONDS,
        response_hook=_replayed,
    )
    once = idempotent_function(_route, data_keyword_argument="request", persistence_store=idempotency_store(),
                               config=config, key_prefix=_KEY_PREFIX)
    return once, config


def answer_once(
    event: dict[str, Any], account_id: str, user_id: str, key: str, context: Any,
    route: Callable[[], dict[str, Any]], refusal: Refusal,
) -> dict[str, Any]:
    """The answer to a keyed request: route() runs for the first request with the key of this user of
    this account, any later request gets its kept answer (IdempotencyKeyReused for another request, 409
    while the first still runs). Keys are the caller's own: a replay skips the route's access checks,
    so another user of the account must never be answered with a kept answer (a new token's secret).
    `refusal` makes the error answer kept in place of an answer too large to keep."""
    once, config = _idempotent_route()
    config.register_lambda_context(context)
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
