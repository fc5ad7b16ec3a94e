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

This module is the key's contract (its header, its shape, which requests take one);
shared.idempotent_answers answers keyed requests.
"""

import re
from typing import Any

from shared import routes
from shared.errors import ValidationFailed

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = ("POST", "PUT", "DELETE")
MAX_KEY_LENGTH = 255
# Printable ASCII, spaces only between other characters (HTTP trims a header value's ends anyway).
KEY_PATTERN = rf"^[!-~]([ -~]{{0,{MAX_KEY_LENGTH - 2}}}[!-~])?$"
KEPT_SECONDS = 24 * 60 * 60


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
