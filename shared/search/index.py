"""The search index: the only code that talks to Typesense.

Documents live in a collection behind an alias (reads and writes go through the alias, so a rebuild
can switch collections with no downtime). Each document carries the record's version, and a write
never replaces a document with an older version of the same record, whatever order deliveries,
retries or rebuilds bring.
"""

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

from shared.errors import ServiceUnavailable
from shared.models.domain import Record
from shared.secrets import resolve
from shared.settings import get_settings

# Emails, URLs and phones split into words at these, so "example" finds "john@example.com".
TOKEN_SEPARATORS = ["@", ".", "-", "_", "+", "/", ":"]
MAX_PER_PAGE = 250
_MAX_SEARCHES_PER_REQUEST = 20
# Record document ids are about 60 characters; 40 of them keep a delete's query string under 4,000.
_IDS_PER_DELETE = 40


class SearchUnavailable(ServiceUnavailable):
    """Typesense cannot be reached or answered with a server error."""


def _request_errors() -> tuple[type[Exception], ...]:
    from typesense import exceptions

    return (exceptions.ObjectNotFound, exceptions.ObjectAlreadyExists, exceptions.ObjectUnprocessable,
            exceptions.RequestMalformed, exceptions.RequestUnauthorized, exceptions.RequestForbidden,
            exceptions.InvalidParameter, exceptions.ConfigError)


@dataclass(frozen=True)
class SearchFilter:
    account_id: str
    kanban_ids: Sequence[str] | None  # None: every kanban of the account
    status: str | None


@dataclass(frozen=True)
class SearchPage:
    record_ids: list[str]
    found: int


class SearchIndex(Protocol):
    def upsert(self, records: Sequence[tuple[Record, Sequence[str]]]) -> list[str]:
        """Index records with their search values; returns the record ids that failed."""

    def delete(self, records: Sequence[Record]) -> list[str]:
        """Remove records; returns the record ids that failed."""

    def search(self, query: str | None, where: SearchFilter, page: int, per_page: int) -> SearchPage: ...


def document_id(account_id: str, record_id: str) -> str:
    return f"{account_id}.{record_id}"


def collection_schema(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "fields": [
            {"name": "accountId", "type": "string", "facet": True},
            {"name": "recordId", "type": "string"},
            {"name": "kanbanId", "type": "string", "facet": True},
            {"name": "status", "type": "string", "facet": True},
            # Substring matches need infix indexes; titles and field values are short.
            {"name": "title", "type": "string", "infix": True},
            {"name": "values", "type": "string[]", "infix": True},
            {"name": "assignedUserIds", "type": "string[]", "facet": True},
            {"name": "createdAt", "type": "int64"},
            {"name": "updatedAt", "type": "int64"},
            {"name": "version", "type": "int64"},
        ],
        "default_sorting_field": "createdAt",
        "token_separators": TOKEN_SEPARATORS,
    }


def _document(record: Record, search_values: Sequence[str]) -> dict[str, Any]:
    values = list(search_values)
    # Formatted phone numbers also get a digits-only copy, so "7890" finds "+1 234-567-890".
    values += [d for v in search_values if (d := "".join(c for c in v if c.isdigit())) and d != v]
    return {
        "id": document_id(record.account_id, record.record_id),
        "accountId": record.account_id,
        "recordId": record.record_id,
        "kanbanId": record.kanban_id,
        "status": record.status,
        "title": record.title,
        "values": list(dict.fromkeys(values)),
        "assignedUserIds": list(record.assigned_user_ids),
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
        "version": record.version,
    }


def filter_expression(where: SearchFilter) -> str:
    """Filter values come from validated ids and statuses and are quoted with backticks."""
    clauses = []
    if where.kanban_ids is not None:
        clauses.append("kanbanId:=[" + ",".join(f"`{_quotable(k)}`" for k in where.kanban_ids) + "]")
    if where.status is not None:
        clauses.append(f"status:=`{_quotable(where.status)}`")
    return " && ".join(clauses)


def _id_filter(ids: Sequence[str]) -> str:
    return "id:[" + ",".join(f"`{_quotable(i)}`" for i in ids) + "]"


def _quotable(value: str) -> str:
    if "`" in value or "\\" in value:
        raise ValueError(f"refusing filter value {value!r}")
    return value


class TypesenseIndex:
    def __init__(self, nodes: str, alias: str, api_key: str, search_key: str | None, timeout: float = 2.0):
        import typesense

        self._typesense = typesense
        self.alias = alias
        self._nodes = [
            {"host": u.hostname, "port": u.port or (443 if u.scheme == "https" else 80), "protocol": u.scheme}
            for u in (urlsplit(n.strip()) for n in nodes.split(",") if n.strip())
        ]
        self._timeout = timeout
        self.client = self._client(api_key)
        self._search_key = search_key
        self._scoped_clients: dict[str, Any] = {}
        self._ready = False

    def _client(self, api_key: str) -> Any:
        return self._typesense.Client({
            "nodes": self._nodes, "api_key": api_key, "connection_timeout_seconds": self._timeout,
            "num_retries": 1, "retry_interval_seconds": 0.1, "healthcheck_interval_seconds": 1,
        })

    def _call(self, operation, *args: Any, **kwargs: Any) -> Any:
        """Run a Typesense call; an unreachable or failing server becomes SearchUnavailable."""
        import httpx
        from typesense import exceptions

        try:
            return operation(*args, **kwargs)
        except _request_errors():
            raise
        except (exceptions.TypesenseClientError, httpx.HTTPError) as error:
            raise SearchUnavailable("search is temporarily unavailable; try again shortly") from error

    # --- collections and alias -------------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Create the first collection and the alias if the alias does not exist yet."""
        if self._ready:
            return
        from typesense import exceptions

        try:
            self._call(self.client.aliases[self.alias].retrieve)
        except exceptions.ObjectNotFound:
            name = f"{self.alias}-1"
            with contextlib.suppress(exceptions.ObjectAlreadyExists):
                self._call(self.client.collections.create, collection_schema(name))
            self.switch_alias(name)
        self._ready = True

    def create_collection(self, name: str) -> None:
        self._call(self.client.collections.create, collection_schema(name))

    def current_collection(self) -> str | None:
        from typesense import exceptions

        try:
            return self._call(self.client.aliases[self.alias].retrieve)["collection_name"]
        except exceptions.ObjectNotFound:
            return None

    def switch_alias(self, collection: str) -> None:
        self._call(self.client.aliases.upsert, self.alias, {"collection_name": collection})

    def drop_collection(self, name: str) -> None:
        self._call(self.client.collections[name].delete)

    # --- writes ----------------------------------------------------------------------------------

    def _indexed_versions(self, collection: str, ids: Iterable[str]) -> dict[str, int]:
        """Versions of the documents already indexed. Sent as a multi-search so the id list travels
        in the request body (query strings are limited to 4,000 characters)."""
        ids = list(ids)
        searches = [
            {"collection": collection, "q": "*", "filter_by": _id_filter(ids[start:start + MAX_PER_PAGE]),
             "include_fields": "id,version", "per_page": MAX_PER_PAGE}
            for start in range(0, len(ids), MAX_PER_PAGE)
        ]
        found: dict[str, int] = {}
        for start in range(0, len(searches), _MAX_SEARCHES_PER_REQUEST):
            batch = searches[start:start + _MAX_SEARCHES_PER_REQUEST]
            results = self._call(self.client.multi_search.perform, {"searches": batch}, {})["results"]
            for result in results:
                if "error" in result:
                    raise SearchUnavailable(f"the index could not be read: {result['error']}")
                found |= {hit["document"]["id"]: hit["document"]["version"] for hit in result["hits"]}
        return found

    def upsert(self, records: Sequence[tuple[Record, Sequence[str]]], collection: str | None = None) -> list[str]:
        self.ensure_ready()
        target = collection or self.alias
        documents = [_document(record, values) for record, values in records]
        indexed = self._indexed_versions(target, (d["id"] for d in documents))
        newer = [d for d in documents if d["version"] > indexed.get(d["id"], 0)]
        if not newer:
            return []
        results = self._call(self.client.collections[target].documents.import_, newer, {"action": "upsert"})
        return [d["recordId"] for d, r in zip(newer, results, strict=True) if not r.get("success")]

    def delete(self, records: Sequence[Record]) -> list[str]:
        self.ensure_ready()
        if not records:
            return []
        self.delete_documents(self.alias, [document_id(r.account_id, r.record_id) for r in records])
        return []

    def documents(self, collection: str) -> list[tuple[str, str, str]]:
        """(document id, account id, record id) of every document in a collection."""
        exported = self._call(self.client.collections[collection].documents.export,
                              {"include_fields": "id,accountId,recordId"})
        return [
            (doc["id"], doc["accountId"], doc["recordId"])
            for line in exported.splitlines() if line.strip() for doc in [json.loads(line)]
        ]

    def delete_documents(self, collection: str, ids: Sequence[str]) -> None:
        """Delete by id, in requests small enough for a query string."""
        for start in range(0, len(ids), _IDS_PER_DELETE):
            self._call(self.client.collections[collection].documents.delete,
                       {"filter_by": _id_filter(ids[start:start + _IDS_PER_DELETE])})

    # --- reads -----------------------------------------------------------------------------------

    def _scoped_client(self, account_id: str) -> Any:
        """A client whose key embeds the account filter: Typesense itself confines every search to
        the account, whatever the query says."""
        if self._search_key is None:
            raise RuntimeError("no Typesense search key is configured")
        client = self._scoped_clients.get(account_id)
        if client is None:
            if len(self._scoped_clients) >= 1000:
                self._scoped_clients.clear()
            scoped = self.client.keys.generate_scoped_search_key(
                self._search_key, {"filter_by": f"accountId:=`{_quotable(account_id)}`"}
            )
            client = self._scoped_clients[account_id] = self._client(scoped)
        return client

    def search(self, query: str | None, where: SearchFilter, page: int, per_page: int) -> SearchPage:
        params: dict[str, Any] = {"page": page, "per_page": per_page, "include_fields": "recordId"}
        if query:
            params |= {
                "q": query, "query_by": "title,values", "infix": "always,always", "num_typos": "2,2",
                "typo_tokens_threshold": 1, "sort_by": "_text_match:desc,createdAt:desc",
            }
        else:
            params |= {"q": "*", "sort_by": "createdAt:desc"}
        if expression := filter_expression(where):
            params["filter_by"] = expression
        from typesense import exceptions

        client = self._scoped_client(where.account_id)
        try:
            result = self._call(client.collections[self.alias].documents.search, params)
        except exceptions.ObjectNotFound:  # nothing indexed yet: no collection behind the alias
            return SearchPage([], 0)
        return SearchPage([hit["document"]["recordId"] for hit in result["hits"]], result["found"])


@lru_cache(maxsize=1)
def search_index() -> TypesenseIndex:
    """The process's index client, built on first use and reused by warm invocations. The indexer has
    the admin key; the search function only the search-only key, from which it derives scoped keys."""
    settings = get_settings()
    admin_key = resolve(settings.typesense_api_key, settings.typesense_api_key_secret_arn)
    search_key = resolve(settings.typesense_search_key, settings.typesense_search_key_secret_arn)
    if admin_key is None and search_key is None:
        raise RuntimeError("no Typesense key is configured")
    return TypesenseIndex(settings.typesense_nodes, settings.typesense_collection, admin_key or search_key or "",
                          search_key)
