"""Reads the table's DynamoDB stream and invokes a function (the indexer, the events function) with
events of Lambda's shape, the way Lambda's event source mapping does: in order per shard, only the
changes its event filter lets through (record items; for the events function also trash items), and
when the function reports failed items, again from the first failed one (with a growing pause) until
it succeeds."""

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.repository.keys import PARTITION_PREFIXES, RECORD_SK, TRASH_SK
from shared.repository.table import PK, SK

log = logging.getLogger("stream")
BATCH_SIZE = 100


def is_record_change(record: dict[str, Any]) -> bool:
    """What the deployed event filter passes: changes of record items (the filter matches SK = RECORD)."""
    keys = record["dynamodb"]["Keys"]
    return (keys.get(SK, {}).get("S") == RECORD_SK
            and keys.get(PK, {}).get("S", "").startswith(PARTITION_PREFIXES["record"]))


def is_record_or_trash_change(record: dict[str, Any]) -> bool:
    """What the events function's filter passes: changes of record items and of trash items."""
    keys = record["dynamodb"]["Keys"]
    return (keys.get(SK, {}).get("S") in (RECORD_SK, TRASH_SK)
            and keys.get(PK, {}).get("S", "").startswith(PARTITION_PREFIXES["record"]))


class StreamPoller:
    """`on_consumed(shard_id, sequence_number)`, if given, learns that every change of the shard up to
    that sequence number has been delivered or filtered out, so the stream may forget it. `accepts` is
    the event filter of the function it feeds (by default the indexer's)."""

    def __init__(self, streams_client: Any, stream_arn: str, invoke: Callable[[dict[str, Any]], dict[str, Any]],
                 on_consumed: Callable[[str, str], None] | None = None,
                 accepts: Callable[[dict[str, Any]], bool] = is_record_change):
        self._client = streams_client
        self._arn = stream_arn
        self._invoke = invoke
        self._on_consumed = on_consumed
        self._accepts = accepts
        self._last_sequence: dict[str, str] = {}
        self._pending: dict[str, list[dict[str, Any]]] = {}

    def _event_record(self, record: dict[str, Any]) -> dict[str, Any]:
        change = dict(record["dynamodb"])
        created = change.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            change["ApproximateCreationDateTime"] = created.timestamp()
        return {**record, "dynamodb": change, "eventSourceARN": self._arn}

    def _fetch(self, shard_id: str) -> int:
        """Read what follows the last record fetched; a fresh iterator each time, so the poller follows
        the shard wherever the table keeps it. Changes the event filter drops never become pending;
        returns how many it dropped."""
        if len(self._pending.get(shard_id, [])) >= BATCH_SIZE:
            return 0
        last = self._last_sequence.get(shard_id)
        position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last} if last else {
            "ShardIteratorType": "TRIM_HORIZON"}
        iterator = self._client.get_shard_iterator(StreamArn=self._arn, ShardId=shard_id, **position)
        records = self._client.get_records(ShardIterator=iterator["ShardIterator"], Limit=BATCH_SIZE)["Records"]
        if records:
            self._last_sequence[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        passed = [self._event_record(r) for r in records if self._accepts(r)]
        self._pending.setdefault(shard_id, []).extend(passed)
        return len(records) - len(passed)

    def _consumed(self, shard_id: str, sequence_number: str) -> None:
        if self._on_consumed is not None:
            self._on_consumed(shard_id, sequence_number)

    def poll_once(self) -> int:
        """Deliver what the stream holds now; returns how many changes it got through (indexed or
        filtered out)."""
        progress = 0
        for shard in self._client.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            progress += self._fetch(shard_id)
            batch = self._pending.get(shard_id, [])[:BATCH_SIZE]
            if not batch:
                if shard_id in self._last_sequence:
                    self._consumed(shard_id, self._last_sequence[shard_id])
                continue
            response = self._invoke({"Records": batch}) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            sequences = [r["dynamodb"]["SequenceNumber"] for r in batch]
            # Like Lambda: everything before the first failed record is done; the rest comes again.
            done = next((i for i, s in enumerate(sequences) if s in failed), len(batch))
            self._pending[shard_id] = self._pending[shard_id][done:]
            progress += done
            if not self._pending[shard_id]:
                self._consumed(shard_id, self._last_sequence[shard_id])
            elif done:
                self._consumed(shard_id, sequences[done - 1])
            if failed:
                raise RuntimeError(f"the function failed {len(failed)} of {len(batch)} changes; retrying")
        return progress

    def drain(self, attempts: int = 50) -> int:
        """Poll until the stream has nothing left to deliver (tests and tools)."""
        total = 0
        for _ in range(attempts):
            progress = self.poll_once()
            total += progress
            if progress == 0:
                return total
        return total

    def run(self, stop: threading.Event, idle_seconds: float = 0.05) -> None:
        pause = idle_seconds
        while not stop.is_set():
            try:
                progress = self.poll_once()
                pause = idle_seconds
                if progress == 0:
                    stop.wait(idle_seconds)
            except Exception as error:
                log.warning("%s (next try in %.1fs)", error, pause)
                stop.wait(pause)
                pause = min(pause * 2, 5.0)


class SharedTrim:
    """Several pollers on one stream (each function's own event source mapping): the stream may forget
    a change only once every poller has consumed it. `consumed(name)` is a poller's on_consumed."""

    def __init__(self, names: list[str], trim: Callable[[str, str], None]):
        self._positions: dict[str, dict[str, int]] = {name: {} for name in names}
        self._trim = trim
        self._lock = threading.Lock()

    def consumed(self, name: str) -> Callable[[str, str], None]:
        def on_consumed(shard_id: str, sequence_number: str) -> None:
            with self._lock:
                self._positions[name][shard_id] = int(sequence_number)
                through = [positions.get(shard_id) for positions in self._positions.values()]
                if any(p is None for p in through):
                    return
                lowest = min(p for p in through if p is not None)
            self._trim(shard_id, str(lowest))

        return on_consumed
