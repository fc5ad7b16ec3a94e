"""Identifiers of the form <prefix>_<milliseconds>_<random>, and the clock they use."""

import secrets
import string
import time

_ALPHABET = string.ascii_lowercase + string.digits


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id(prefix: str, at_ms: int | None = None) -> str:
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(9))
    return f"{prefix}_{at_ms if at_ms is not None else now_ms()}_{suffix}"
