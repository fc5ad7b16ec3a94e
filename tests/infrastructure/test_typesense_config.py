"""Typesense settings from CDK context."""

import pytest

from infra.typesense_config import DEFAULT_NODES, TypesenseConfig


def _context(**values):
    return values.get


def test_nodes_from_a_comma_separated_string():
    config = TypesenseConfig.from_context(
        _context(typesenseNodes="http://10.0.1.10:8108, http://10.0.2.10:8108/,http://10.0.3.10:8108")
    )

    assert config.nodes_value == "http://10.0.1.10:8108,http://10.0.2.10:8108,http://10.0.3.10:8108"


def test_nodes_from_a_list():
    config = TypesenseConfig.from_context(_context(typesenseNodes=["https://abc.a1.typesense.net"]))

    assert config.nodes == ("https://abc.a1.typesense.net",)
    assert not config.uses_default_nodes


def test_defaults_to_a_placeholder_and_a_created_secret():
    config = TypesenseConfig.from_context(_context())

    assert config.nodes == DEFAULT_NODES
    assert config.uses_default_nodes
    assert config.api_key_secret is None and config.search_key_secret is None


def test_secret_names_are_kept():
    config = TypesenseConfig.from_context(
        _context(typesenseApiKeySecret="crm/typesense-admin", typesenseSearchKeySecret=" crm/typesense-search ")
    )

    assert (config.api_key_secret, config.search_key_secret) == ("crm/typesense-admin", "crm/typesense-search")


@pytest.mark.parametrize("nodes", ["typesense.internal:8108", "ftp://host", "https://"])
def test_rejects_nodes_that_are_not_urls(nodes):
    with pytest.raises(ValueError, match="typesenseNodes"):
        TypesenseConfig.from_context(_context(typesenseNodes=nodes))
