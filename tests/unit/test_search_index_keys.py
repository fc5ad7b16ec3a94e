"""Which key each side of the search index holds: the writer the admin key, the search reader only the
search-only key and the per-account keys scoped from it. No request is made: clients are built on first use,
and a scoped key is derived locally."""

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from shared.search.index import TypesenseIndexWriter, TypesenseSearchReader, index_writer, search_reader
from shared.search.ports import SearchIndex
from shared.settings import get_settings

ADMIN_KEY = "admin-key-0123456789"
SEARCH_KEY = "search-key-0123456789"
KEY_VARIABLES = ("TYPESENSE_API_KEY", "TYPESENSE_API_KEY_SECRET_ARN", "TYPESENSE_SEARCH_KEY",
                 "TYPESENSE_SEARCH_KEY_SECRET_ARN")
# Everything the writer's port offers, but the alias both sides read.
WRITER_MEMBERS = {name for name in dir(SearchIndex) if not name.startswith("_")} - {"alias"}


@pytest.fixture
def configure(monkeypatch):
    def configure(**keys: str) -> None:
        for name in KEY_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in keys.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        index_writer.cache_clear()
        search_reader.cache_clear()

    yield configure
    index_writer.cache_clear()
    search_reader.cache_clear()


def keys_held(index: Any) -> set[str]:
    """The strings an index object keeps, and the API keys of the clients it keeps."""
    held = set()
    for value in vars(index).values():
        for item in value.values() if isinstance(value, dict) else [value]:
            if isinstance(item, str):
                held.add(item)
            elif hasattr(item, "config"):
                held.add(item.config.api_key)
    return held


def test_the_search_reader_holds_only_the_search_key_and_keys_scoped_from_it(configure):
    configure(TYPESENSE_API_KEY=ADMIN_KEY, TYPESENSE_SEARCH_KEY=SEARCH_KEY)

    reader = search_reader()
    key = reader.scoped_key("account_1")

    scoped = base64.b64decode(key).decode()
    embedded = json.dumps({"filter_by": "accountId:=`account_1`"})
    digest = base64.b64encode(hmac.new(SEARCH_KEY.encode(), embedded.encode(), hashlib.sha256).digest()).decode()
    assert scoped == digest + SEARCH_KEY[:4] + embedded
    assert reader.scoped_key("account_1") == key and search_reader() is reader
    assert reader.scoped_key("account_2") != key
    assert "_http" not in vars(reader)  # the HTTP client is built on first search, not before
    assert ADMIN_KEY not in keys_held(reader) and SEARCH_KEY in keys_held(reader)


def test_the_search_reader_offers_no_write_and_the_writer_all_of_its_port():
    reader = TypesenseSearchReader("http://127.0.0.1:9", "crm-records", SEARCH_KEY)
    writer = TypesenseIndexWriter("http://127.0.0.1:9", "crm-records", ADMIN_KEY)

    assert {"upsert", "delete", "create_collection", "switch_alias", "drop_collection"} <= WRITER_MEMBERS
    assert not [name for name in WRITER_MEMBERS | {"client"} if hasattr(reader, name)]
    assert all(hasattr(writer, name) for name in WRITER_MEMBERS)


def test_the_writer_reads_only_the_admin_key_and_builds_its_client_on_first_use(configure):
    configure(TYPESENSE_API_KEY=ADMIN_KEY, TYPESENSE_SEARCH_KEY=SEARCH_KEY)

    writer = index_writer()

    assert "client" not in vars(writer)
    assert writer.client.config.api_key == ADMIN_KEY and writer.client is writer.client
    assert index_writer() is writer
    assert SEARCH_KEY not in keys_held(writer)


def test_each_side_refuses_to_start_without_its_own_key(configure):
    configure(TYPESENSE_SEARCH_KEY=SEARCH_KEY)
    with pytest.raises(RuntimeError, match="admin key"):
        index_writer()

    configure(TYPESENSE_API_KEY=ADMIN_KEY)
    with pytest.raises(RuntimeError, match="search key"):
        search_reader()
