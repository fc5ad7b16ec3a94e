"""The SQS queue of webhook deliveries: one message per attempt to make, delayed until it is due.

SQS delays a message by at most 15 minutes; a message due later carries its due time, and the worker
sends it back with the longest delay until it is due (shared.logic.deliveries).
"""

import json
from functools import lru_cache
from typing import Any

from shared.aws_clients import service_client
from shared.settings import get_settings

MAX_DELAY_SECONDS = 900
# SendMessageBatch takes at most this many entries.
_BATCH = 10


@lru_cache(maxsize=1)
def sqs_client() -> Any:
    """The process's SQS client, built on first use and reused by warm invocations."""
    return service_client("sqs", get_settings().sqs_endpoint_url)


def _queue_url() -> str:
    url = get_settings().webhook_queue_url
    if not url:
        raise RuntimeError("WEBHOOK_QUEUE_URL must be set to send webhook deliveries")
    return url


def send(messages: list[tuple[dict[str, Any], int]]) -> None:
    """Send (message, delay in seconds) pairs; the delay is clipped to SQS's maximum."""
    for start in range(0, len(messages), _BATCH):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(body, separators=(",", ":")),
             "DelaySeconds": max(0, min(MAX_DELAY_SECONDS, int(delay)))}
            for i, (body, delay) in enumerate(messages[start:start + _BATCH])
        ]
        response = sqs_client().send_message_batch(QueueUrl=_queue_url(), Entries=entries)
        if response.get("Failed"):
            failed = response["Failed"]
            raise RuntimeError(f"SQS refused {len(failed)} delivery messages: {failed[0].get('Message')}")
