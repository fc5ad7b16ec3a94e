"""The search index: the only code that talks to Typesense.

Documents live in a collection behind an alias, so a rebuild can switch collections with no downtime.
Searches read through the alias; writes go to the collection the alias points at, resolved and kept
for WRITE_TARGET_TTL_SECONDS (Typesense 0.24 loses, on restart, every document written through an
alias). Each document carries the record's version, and a write never replaces a document with an
older version of the same record, whatever order deliveries, retries or rebuilds bring.

Two classes, one key each. TypesenseIndexWriter holds the admin key: collections and the alias,
imports, deletes, rebuilds and the verifier's reads (the indexer, the verifier, `crm-admin`, the local
stack); it implements the SearchIndex port. TypesenseSearchReader holds only the search-only key, from
which it derives a key scoped to each account; it implements SearchReader and is the search
function's, which never gets the admin key. A process builds the one it needs on first use
(index_writer(), search_reader()) and reuses it. The writer builds one Typesense client on first use; the
reader builds one HTTP client on first use and calls Typesense's search endpoint with it for every
account, the account's scoped key in each request's header (one connection pool and one TLS context
per process, and no import of the Typesense library on the search path).
"""

import base64
import contextlib
import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property, lru_cache
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import urllib3

from shared.models.domain import Record
from shared.search.ports import SearchFilter, SearchPage, SearchUnavailable, document_id
from shared.secrets import resolve
from shared.settings import get_settings

# Emails, URLs and phones split into words at these, so "example" finds "john@example.com".
TOKEN_SEPARATORS = ["@", ".", "-", "_", "+", "/", ":"]
MAX_PER_PAGE = 250
_MAX_SEARCHES_PER_REQUEST = 20
_T = TypeVar("_T")
# Record document ids are about 60 characters; 40 of them keep a delete's query string under 4,000.
_IDS_PER_DELETE = 40
# How long a writer keeps using the collection it resolved behind the alias before it asks again.
WRITE_TARGET_TTL_SECONDS = 2.0


class _CollectionGone(Exception):
    """The collection a write resolved was dropped meanwhile (a rebuild switched the alias)."""


def _request_errors() -> tuple[type[Exception], ...]:
    from typesense import exceptions

    return (exceptions.ObjectNotFound, exceptions.ObjectAlreadyExists, exceptions.ObjectUnprocessable,
            exceptions.RequestMalformed, exceptions.RequestUnauthorized, exceptions.RequestForbidden,
            exceptions.InvalidParameter, exceptions.ConfigError)


def typesense_node(url: str) -> dict[str, Any]:
    """A node URL as the Typesense client takes it."""
    parts = urlsplit(url.strip())
    return {"host": parts.hostname, "port": parts.port or (443 if parts.scheme == "https" else 80),
            "protocol": parts.scheme}


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


def _client(nodes: list[dict[str, Any]], api_key: str, timeout: float) -> Any:
    import typesense

    return typesense.Client({
        "nodes": nodes, "api_key": api_key, "connection_timeout_seconds": timeout,
        "num_retries": 1, "retry_interval_seconds": 0.1, "healthcheck_interval_seconds": 1,
    })


def _call(operation: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run a Typesense call; an unreachable or failing server becomes SearchUnavailable."""
    import httpx
    from typesense import exceptions

    try:
        return operation(*args, **kwargs)
    except _request_errors():
        raise
    except (exceptions.TypesenseClientError, httpx.HTTPError) as error:
        raise SearchUnavailable("search is temporarily unavailable; try again shortly") from error


def _nodes(nodes: str) -> list[dict[str, Any]]:
    return [typesense_node(n) for n in nodes.split(",") if n.strip()]


class TypesenseIndexWriter:
    """The index as the admin key sees it: collections and the alias, writes, rebuilds, and the reads
    verification needs. Implements the SearchIndex port; never used by the search function."""

    def __init__(self, nodes: str, alias: str, api_key: str, timeout: float = 2.0):
        self.alias = alias
        self._nodes = _nodes(nodes)
        self._api_key = api_key
        self._timeout = timeout
        self._write_target: tuple[str, float] | None = None  # (collection, when resolved: monotonic seconds)

    @cached_property
    def client(self) -> Any:
        """The admin client, built on first use and kept."""
        return _client(self._nodes, self._api_key, self._timeout)

    # --- collections and alias -------------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Create the first collection and the alias if the alias does not exist yet."""
        self.write_collection()

    def _resolve_write_target(self) -> str:
        from typesense import exceptions

        try:
            return _call(self.client.aliases[self.alias].retrieve)["collection_name"]
        except exceptions.ObjectNotFound:
            name = f"{self.alias}-1"
            with contextlib.suppress(exceptions.ObjectAlreadyExists):
                _call(self.client.collections.create, collection_schema(name))
            self.switch_alias(name)
            return name

    def write_collection(self) -> str:
        """The collection behind the alias, as resolved at most WRITE_TARGET_TTL_SECONDS ago."""
        now = time.monotonic()
        if self._write_target is None or now - self._write_target[1] > WRITE_TARGET_TTL_SECONDS:
            self._write_target = (self._resolve_write_target(), now)
        return self._write_target[0]

    @property
    def write_target_settle_seconds(self) -> float:
        """How long after an alias switch a writer may still write to the previous collection: until
        its resolved name expires, plus one write (a version lookup and an import, each tried twice)."""
        return WRITE_TARGET_TTL_SECONDS + 4 * self._timeout

    def _writing(self, write: Callable[[str], _T]) -> _T:
        """Run a write against the resolved collection; when that collection was dropped meanwhile,
        resolve the alias again and retry once."""
        from typesense import exceptions

        try:
            return write(self.write_collection())
        except (_CollectionGone, exceptions.ObjectNotFound):
            self._write_target = None
            return write(self.write_collection())

    def create_collection(self, name: str) -> None:
        _call(self.client.collections.create, collection_schema(name))

    def current_collection(self) -> str | None:
        from typesense import exceptions

        try:
            return _call(self.client.aliases[self.alias].retrieve)["collection_name"]
        except exceptions.ObjectNotFound:
            return None

    def switch_alias(self, collection: str) -> None:
        _call(self.client.aliases.upsert, self.alias, {"collection_name": collection})

    def drop_collection(self, name: str) -> None:
        _call(self.client.collections[name].delete)

    def drop(self) -> None:
        """Remove the alias and the collection behind it (a local stack starts empty, like its table)."""
        from typesense import exceptions

        if (name := self.current_collection()) is not None:
            _call(self.client.aliases[self.alias].delete)
            with contextlib.suppress(exceptions.ObjectNotFound):
                self.drop_collection(name)
        self._write_target = None

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
            results = _call(self.client.multi_search.perform, {"searches": batch}, {})["results"]
            for result in results:
                if result.get("code") == 404:
                    raise _CollectionGone(collection)
                if "error" in result:
                    raise SearchUnavailable(f"the index could not be read: {result['error']}")
                found |= {hit["document"]["id"]: hit["document"]["version"] for hit in result["hits"]}
        return found

    def _upsert_into(self, collection: str, records: Sequence[tuple[Record, Sequence[str]]]) -> list[str]:
        documents = [_document(record, values) for record, values in records]
        indexed = self._indexed_versions(collection, (d["id"] for d in documents))
        newer = [d for d in documents if d["version"] > indexed.get(d["id"], 0)]
        if not newer:
            return []
        results = _call(self.client.collections[collection].documents.import_, newer, {"action": "upsert"})
        return [d["recordId"] for d, r in zip(newer, results, strict=True) if not r.get("success")]

    def upsert(self, records: Sequence[tuple[Record, Sequence[str]]], collection: str | None = None) -> list[str]:
        """Into `collection` (a rebuild's new one), or else the collection behind the alias."""
        if collection is not None:
            return self._upsert_into(collection, records)
        return self._writing(lambda target: self._upsert_into(target, records))

    def delete(self, records: Sequence[Record]) -> list[str]:
        self._delete([document_id(r.account_id, r.record_id) for r in records])
        return []

    def delete_account_records(self, account_id: str, record_ids: Sequence[str]) -> None:
        self._delete([document_id(account_id, r) for r in record_ids])

    def _delete(self, ids: list[str]) -> None:
        if ids:
            self._writing(lambda target: self.delete_documents(target, ids))

    def indexed_versions(self, account_id: str, record_ids: Sequence[str]) -> dict[str, int]:
        """Record id -> indexed version, for the records of an account that have a document."""
        ids = {document_id(account_id, r): r for r in record_ids}
        found = self._writing(lambda target: self._indexed_versions(target, ids))
        return {ids[doc_id]: version for doc_id, version in found.items()}

    def account_documents(self, account_id: str, page: int, per_page: int) -> list[tuple[str, int]]:
        """One page of an account's documents, oldest record first: (record id, version). New records
        come last, so a walk page by page sees every document that was there when it began."""
        params = {"q": "*", "filter_by": f"accountId:=`{_quotable(account_id)}`", "sort_by": "createdAt:asc",
                  "include_fields": "recordId,version", "page": page, "per_page": per_page}
        result = self._writing(lambda target: _call(self.client.collections[target].documents.search, params))
        return [(hit["document"]["recordId"], hit["document"]["version"]) for hit in result["hits"]]

    def documents(self, collection: str) -> list[tuple[str, str, str]]:
        """(document id, account id, record id) of every document in a collection."""
        exported = _call(self.client.collections[collection].documents.export,
                         {"include_fields": "id,accountId,recordId"})
        return [
            (doc["id"], doc["accountId"], doc["recordId"])
            for line in exported.splitlines() if line.strip() for doc in [json.loads(line)]
        ]

    def delete_documents(self, collection: str, ids: Sequence[str]) -> None:
        """Delete by id, in requests small enough for a query string."""
        for start in range(0, len(ids), _IDS_PER_DELETE):
            _call(self.client.collections[collection].documents.delete,
                  {"filter_by": _id_filter(ids[start:start + _IDS_PER_DELETE])})


def search_parameters(query: str | None, where: SearchFilter, page: int, per_page: int) -> dict[str, Any]:
    """The search request's parameters: the account is not among them (the scoped key carries it)."""
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
    return params


class SearchRefused(Exception):
    """Typesense refused a search as malformed or unauthorized (a 4xx other than 404): a bug, not an outage."""


def scoped_search_key(search_key: str, parameters: dict[str, Any]) -> str:
    """A key that embeds search parameters Typesense enforces whatever the query says: the HMAC-SHA256 of
    the parameters under the search-only key, its first four characters and the parameters, in base64
    (Typesense's documented scheme, computed locally with no request)."""
    embedded = json.dumps(parameters)
    digest = base64.b64encode(hmac.new(search_key.encode(), embedded.encode(), hashlib.sha256).digest()).decode()
    return base64.b64encode(f"{digest}{search_key[:4]}{embedded}".encode()).decode()


class TypesenseSearchReader:
    """The index as the search function sees it: searches through the alias, each confined to one
    account by a scoped key derived from the search-only key. It holds no admin key, so it can neither
    write nor manage collections. Implements the SearchReader port.

    One HTTP client (one connection pool per node, one TLS context), built on first use, serves every
    account: each request carries its account's scoped key in the X-TYPESENSE-API-KEY header. Scoped keys
    are derived locally and kept per account (up to MAX_SCOPED_KEYS). The client is urllib3's, which
    boto3 has already loaded, so a cold start pays for no other HTTP library."""

    MAX_SCOPED_KEYS = 10_000
    ATTEMPTS = 2  # each node in turn; a connection failure or a 5xx moves on to the next
    RETRY_INTERVAL_SECONDS = 0.1

    def __init__(self, nodes: str, alias: str, search_key: str, timeout: float = 2.0):
        self.alias = alias
        self._urls = [f"{n['protocol']}://{n['host']}:{n['port']}" for n in _nodes(nodes)]
        self._search_key = search_key
        self._timeout = timeout
        self._scoped_keys: dict[str, str] = {}
        self._next_node = 0

    @cached_property
    def _http(self) -> Any:
        """The process's one HTTP client to Typesense, built on first use and kept for warm invocations."""
        tls = ssl.create_default_context() if any(url.startswith("https:") for url in self._urls) else None
        return urllib3.PoolManager(maxsize=10, timeout=urllib3.Timeout(total=self._timeout), retries=False,
                                   ssl_context=tls)

    def scoped_key(self, account_id: str) -> str:
        """The account's key: its embedded filter confines every search to the account, whatever the
        query's own filter says."""
        key = self._scoped_keys.get(account_id)
        if key is None:
            if len(self._scoped_keys) >= self.MAX_SCOPED_KEYS:
                self._scoped_keys.clear()
            key = self._scoped_keys[account_id] = scoped_search_key(
                self._search_key, {"filter_by": f"accountId:=`{_quotable(account_id)}`"})
        return key

    def search_as(self, account_id: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """One search request through the alias with the account's scoped key: the result, or None when
        no collection is behind the alias yet."""
        path = f"/collections/{quote(self.alias, safe='')}/documents/search"
        headers = {"X-TYPESENSE-API-KEY": self.scoped_key(account_id)}
        failure: Exception | None = None
        for attempt in range(self.ATTEMPTS):
            if attempt:
                time.sleep(self.RETRY_INTERVAL_SECONDS)
            url = self._urls[self._next_node % len(self._urls)]
            try:
                response = self._http.request("GET", url + path, fields=params, headers=headers)
            except urllib3.exceptions.HTTPError as error:
                failure = error
            else:
                if response.status == 200:
                    return json.loads(response.data)
                if response.status == 404:
                    return None
                text = response.data.decode(errors="replace")
                if response.status < 500:
                    raise SearchRefused(f"Typesense refused the search ({response.status}): {text}")
                failure = RuntimeError(f"Typesense answered {response.status}: {text}")
            self._next_node += 1
        raise SearchUnavailable("search is temporarily unavailable; try again shortly") from failure

    def search(self, query: str | None, where: SearchFilter, page: int, per_page: int) -> SearchPage:
        result = self.search_as(where.account_id, search_parameters(query, where, page, per_page))
        if result is None:  # nothing indexed yet: no collection behind the alias
            return SearchPage([], 0)
        return SearchPage([hit["document"]["recordId"] for hit in result["hits"]], result["found"])


@lru_cache(maxsize=1)
def index_writer() -> TypesenseIndexWriter:
    """The process's index writer (the indexer, the verifier, `crm-admin`, the local stack), built on
    first use and reused by warm invocations. It reads the admin key only."""
    settings = get_settings()
    admin_key = resolve(settings.typesense_api_key, settings.typesense_api_key_secret_arn)
    if admin_key is None:
        raise RuntimeError("no Typesense admin key is configured")
    return TypesenseIndexWriter(settings.typesense_nodes, settings.typesense_collection, admin_key)


@lru_cache(maxsize=1)
def search_reader() -> TypesenseSearchReader:
    """The process's search reader (the search function), built on first use and reused by warm
    invocations. It reads the search-only key only, never the admin key."""
    settings = get_settings()
    search_key = resolve(settings.typesense_search_key, settings.typesense_search_key_secret_arn)
    if search_key is None:
        raise RuntimeError("no Typesense search key is configured")
    return TypesenseSearchReader(settings.typesense_nodes, settings.typesense_collection, search_key)
