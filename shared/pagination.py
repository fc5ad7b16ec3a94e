"""Opaque, tamper-proof pagination tokens.

A token carries the storage cursor and an HMAC over it and the query it belongs to (account, list
and filters). An edited token, or one from another query or another account, fails the check and is
a 400; the cursor inside is only ever used for the query that produced it.
"""

import base64
import hashlib
import hmac
import json
from typing import Any

from shared.errors import ValidationFailed
from shared.secrets import pagination_key


def _mac(payload: bytes, scope: str) -> bytes:
    return hmac.new(pagination_key(), scope.encode() + b"\n" + payload, hashlib.sha256).digest()[:18]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_token(cursor: dict[str, Any] | None, scope: str) -> str | None:
    if cursor is None:
        return None
    payload = json.dumps(cursor, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(payload)}.{_b64(_mac(payload, scope))}"


def decode_token(token: str | None, scope: str) -> dict[str, Any] | None:
    if token is None:
        return None
    try:
        payload_text, mac_text = token.split(".")
        payload, mac = _unb64(payload_text), _unb64(mac_text)
        if hmac.compare_digest(mac, _mac(payload, scope)):
            cursor = json.loads(payload)
            if isinstance(cursor, dict):
                return cursor
    except ValueError:  # bad base64, bad JSON, wrong number of parts
        pass
    raise ValidationFailed("nextToken is invalid or belongs to another query")
