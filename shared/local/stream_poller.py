"""Reads the table's DynamoDB stream and invokes the indexer with events of Lambda's shape, the way
Lambda's event source mapping does: in order per shard, and when the indexer reports failed items,
again from the first failed one (with a growing pause) until it succeeds."""

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

log = logging.getLogger("stream")
BATCH_SIZE = 100


class StreamPoller:
    def __init__(self, streams_client: Any, stream_arn: str, invoke: Callable[[dict[str, Any]], dict[str, Any]]):
        self._client = streams_client
        self._arn = stream_arn
        self._invoke = invoke
        self._last_sequence: dict[str, str] = {}
        self._pending: dict[str, list[dict[str, Any]]] = {}

    def _event_record(self, record: dict[str, Any]) -> dict[str, Any]:
        change = dict(record["dynamodb"])
        created = change.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            change["ApproximateCreationDateTime"] = created.timestamp()
        return {**record, "dynamodb": change, "eventSourceARN": self._arn}

    def _fetch(self, shard_id: str) -> None:
        """Read what follows the last record fetched; a fresh iterator each time, so the poller follows
        the shard wherever the table keeps it."""
        if len(self._pending.get(shard_id, [])) >= BATCH_SIZE:
            return
        last = self._last_sequence.get(shard_id)
        position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last} if last else {
            "ShardIteratorType": "TRIM_HORIZON"}
        iterator = self._client.get_shard_iterator(StreamArn=self._arn, ShardId=shard_id, **position)
        records = self._client.get_records(ShardIterator=iterator["ShardIterator"], Limit=BATCH_SIZE)["Records"]
        if records:
            self._last_sequence[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
            self._pending.setdefault(shard_id, []).extend(self._event_record(r) for r in records)

    def poll_once(self) -> int:
        """Deliver what the stream holds now; returns how many changes were indexed."""
        delivered = 0
        for shard in self._client.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            self._fetch(shard_id)
            batch = self._pending.get(shard_id, [])[:BATCH_SIZE]
            if not batch:
                continue
            response = self._invoke({"Records": batch}) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            sequences = [r["dynamodb"]["SequenceNumber"] for r in batch]
            # Like Lambda: everything before the first failed record is done; the rest comes again.
            done = next((i for i, s in enumerate(sequences) if s in failed), len(batch))
            self._pending[shard_id] = self._pending[shard_id][done:]
            delivered += done
            if failed:
                raise RuntimeError(f"the indexer failed {len(failed)} of {len(batch)} changes; retrying")
        return delivered

    def drain(self, attempts: int = 50) -> int:
        """Poll until the stream has nothing left to deliver (tests and tools)."""
        total = 0
        for _ in range(attempts):
            delivered = self.poll_once()
            total += delivered
            if delivered == 0:
                return total
        return total

    def run(self, stop: threading.Event, idle_seconds: float = 0.05) -> None:
        pause = idle_seconds
        while not stop.is_set():
            try:
                delivered = self.poll_once()
                pause = idle_seconds
                if delivered == 0:
                    stop.wait(idle_seconds)
            except Exception as error:
                log.warning("%s (next try in %.1fs)", error, pause)
                stop.wait(pause)
                pause = min(pause * 2, 5.0)
