"""Where Idempotency-Key records are kept: Powertools' DynamoDB persistence layer on the idempotency
table, through the service's DynamoDB client for bookkeeping (its endpoint, timeouts and retries, but not
the request budget: a kept answer is written even when the request used its whole budget).

An item holds at most 400 KB, and a batch's answer can be larger: an answer over COMPRESS_FROM
characters is kept compressed (zlib, base64). `keepable` says whether an answer fits even so."""

import base64
import zlib
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from shared.repository.table import IDEMPOTENCY_KEY, IDEMPOTENCY_TTL_ATTRIBUTE, bookkeeping_client
from shared.settings import get_settings

COMPRESS_FROM = 64 * 1024
# What the kept answer may take of the item, leaving room for the key, the payload hash and the expiry.
MAX_KEPT_CHARACTERS = 380_000
_COMPRESSED = "zlib+base64:"


def _compact(answer: str) -> str:
    if len(answer) <= COMPRESS_FROM:
        return answer
    return _COMPRESSED + base64.b64encode(zlib.compress(answer.encode(), 6)).decode()


def _expand(kept: str) -> str:
    if not kept.startswith(_COMPRESSED):
        return kept
    return zlib.decompress(base64.b64decode(kept[len(_COMPRESSED):])).decode()


def keepable(answer: str) -> bool:
    """Whether an answer (as Powertools serializes it) fits in its key's item."""
    return len(_compact(answer)) <= MAX_KEPT_CHARACTERS


class _CompactingStore(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB layer, keeping large answers compressed."""

    def _update_record(self, data_record: DataRecord) -> None:
        data_record.response_data = _compact(data_record.response_data)
        super()._update_record(data_record)

    def _item_to_data_record(self, item: dict[str, Any]) -> DataRecord:
        record = super()._item_to_data_record(item)
        record.response_data = _expand(record.response_data or "")
        return record


@lru_cache(maxsize=1)
def idempotency_store() -> DynamoDBPersistenceLayer:
    """The process's persistence layer, built on first use and reused by warm invocations."""
    table_name = get_settings().idempotency_table_name
    if not table_name:
        raise RuntimeError("IDEMPOTENCY_TABLE_NAME is not set: requests with an Idempotency-Key need its table")
    return _CompactingStore(
        table_name=table_name, key_attr=IDEMPOTENCY_KEY, expiry_attr=IDEMPOTENCY_TTL_ATTRIBUTE,
        boto3_client=bookkeeping_client(),
    )
