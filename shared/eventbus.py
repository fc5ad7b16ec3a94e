"""Record changes as events on the service's EventBridge bus: the only code that talks to EventBridge.

Each change is one event (`record.created`, `record.updated`, `record.deleted`, `record.restored`),
plus `record.status_changed` for an update that moved the record to another status; source
`crm.records`; detail `{"eventId", "accountId", "record", "changes", "version", "at"}`. The eventId is
the same every time a change is published again (`evt_<recordId>_<version>_<type>`), so a target can
drop repeats.
"""

import json
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from shared.aws_clients import service_client
from shared.logic.events import PublishFailed, event_id, event_record, event_types
from shared.models.domain import RecordChange
from shared.settings import get_settings

SOURCE = "crm.records"
# PutEvents takes up to 10 entries per call.
ENTRIES_PER_CALL = 10
# A call whose entries EventBridge failed (FailedEntryCount) is sent again, for those entries only.
ATTEMPTS = 4
_PAUSE_SECONDS = 0.1


def detail(change: RecordChange, detail_type: str) -> dict[str, Any]:
    return {
        "eventId": event_id(change, detail_type),
        "accountId": change.account_id,
        "record": event_record(change),
        "changes": change.changes,
        "version": change.version,
        "at": change.at,
    }


@lru_cache(maxsize=1)
def events_client() -> Any:
    """The process's EventBridge client, built on first use."""
    return service_client("events", get_settings().events_endpoint_url)


class EventBridgePublisher:
    """Puts each change on the bus, in order, ten entries per call."""

    def __init__(self, bus_name: str | None = None, client: Any = None):
        self._bus_name = bus_name
        self._client = client

    def publish(self, changes: Sequence[RecordChange]) -> None:
        bus = self._bus_name or get_settings().event_bus_name
        if not bus:
            raise PublishFailed("EVENT_BUS_NAME is not set", 0)
        client = self._client or events_client()
        # (position of the change, entry), in order.
        entries = [
            (position, {"Source": SOURCE, "DetailType": detail_type, "EventBusName": bus,
                        "Detail": json.dumps(detail(change, detail_type), separators=(",", ":"))})
            for position, change in enumerate(changes) for detail_type in event_types(change)
        ]
        for start in range(0, len(entries), ENTRIES_PER_CALL):
            self._put(client, entries[start:start + ENTRIES_PER_CALL])

    def _put(self, client: Any, entries: list[tuple[int, dict[str, Any]]]) -> None:
        pending = entries
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(_PAUSE_SECONDS * 2 ** (attempt - 1))
            try:
                response = client.put_events(Entries=[entry for _, entry in pending])
            except Exception as error:  # unreachable, throttled past the client's retries
                if attempt == ATTEMPTS - 1:
                    raise PublishFailed(f"PutEvents failed: {error}", pending[0][0]) from error
                continue
            if not response.get("FailedEntryCount"):
                return
            pending = [entry for entry, result in zip(pending, response["Entries"], strict=True)
                       if result.get("ErrorCode")]
        raise PublishFailed(f"EventBridge refused {len(pending)} events", pending[0][0])
