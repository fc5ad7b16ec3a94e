"""What the rest of the code needs from the search index, with no Typesense in it: the values that cross
the boundary and the ports the logic layer depends on. shared/search/index.py implements them on
Typesense (a writer with the admin key, a reader with the search-only key); tests implement them in
memory.

The writer's ports are split by who uses them: the stream indexer only writes and removes records
(IndexWrites), the verifier also reads back what is indexed (VerifiableIndex), a rebuild also manages
collections and the alias (RebuildableIndex). SearchIndex is all of it. The search function uses
SearchReader only.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.errors import ServiceUnavailable
from shared.models.domain import Record


class SearchUnavailable(ServiceUnavailable):
    """Typesense cannot be reached or answered with a server error."""


@dataclass(frozen=True)
class SearchFilter:
    account_id: str
    kanban_ids: Sequence[str] | None  # None: every kanban of the account
    status: str | None


@dataclass(frozen=True)
class SearchPage:
    record_ids: list[str]
    found: int


def document_id(account_id: str, record_id: str) -> str:
    return f"{account_id}.{record_id}"


class IndexWrites(Protocol):
    """What the stream indexer uses: writes into the collection behind the alias."""

    def upsert(self, records: Sequence[tuple[Record, Sequence[str]]]) -> list[str]:
        """Index records with their search values (never replacing a newer version of a record);
        returns the record ids the engine refused."""

    def delete(self, records: Sequence[Record]) -> list[str]:
        """Remove records' documents; returns the record ids that failed."""


class VerifiableIndex(IndexWrites, Protocol):
    """What index verification uses besides the writes: reading back an account's documents."""

    def indexed_versions(self, account_id: str, record_ids: Sequence[str]) -> dict[str, int]:
        """Record id -> indexed version, for the records of an account that have a document."""

    def account_documents(self, account_id: str, page: int, per_page: int) -> list[tuple[str, int]]:
        """One page of an account's documents, oldest record first: (record id, version)."""

    def delete_account_records(self, account_id: str, record_ids: Sequence[str]) -> None:
        """Remove the documents of an account's records (given by id)."""


class RebuildableIndex(IndexWrites, Protocol):
    """What a rebuild uses besides the writes: collections, the alias, and writes into a named collection."""

    @property
    def alias(self) -> str:
        """The alias searches read."""

    @property
    def write_target_settle_seconds(self) -> float:
        """How long after an alias switch a writer may still write to the previous collection."""

    def upsert(self, records: Sequence[tuple[Record, Sequence[str]]], collection: str | None = None) -> list[str]:
        """Into `collection` (a rebuild's new one), or else the collection behind the alias."""

    def current_collection(self) -> str | None:
        """The collection behind the alias, or None when there is no alias yet."""

    def create_collection(self, name: str) -> None: ...

    def switch_alias(self, collection: str) -> None: ...

    def drop_collection(self, name: str) -> None: ...

    def documents(self, collection: str) -> list[tuple[str, str, str]]:
        """(document id, account id, record id) of every document in a collection."""

    def delete_documents(self, collection: str, ids: Sequence[str]) -> None:
        """Delete documents of a collection by document id."""


class SearchIndex(VerifiableIndex, RebuildableIndex, Protocol):
    """Everything the indexer, a rebuild and verification use: the port of the index writer."""


class SearchReader(Protocol):
    """What the search function uses: searches confined to one account."""

    def search(self, query: str | None, where: SearchFilter, page: int, per_page: int) -> SearchPage: ...
