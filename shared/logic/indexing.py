"""Keeping the search index in step with the table, one stream change at a time."""

from typing import Any

from shared.repository.records import record_from_stream_image
from shared.search.index import SearchIndex


class IndexingFailed(Exception):
    """The index refused a document; the stream delivers the change again."""


def apply_change(index: SearchIndex, event_name: str, new_image: dict[str, Any] | None,
                 old_image: dict[str, Any] | None) -> None:
    """Upsert a record on insert and modify, delete it on remove; other items are not indexed.

    The index keeps the newest version of each record, so a redelivered or reordered change is harmless.
    """
    if event_name in ("INSERT", "MODIFY") and new_image:
        parsed = record_from_stream_image(new_image)
        if parsed and (failed := index.upsert([parsed])):
            raise IndexingFailed(f"the index refused record {failed[0]}")
    elif event_name == "REMOVE" and old_image:
        parsed = record_from_stream_image(old_image)
        if parsed:
            index.delete([parsed[0]])
