"""`crm-admin` runs on a Settings object built from its options and installed for the command only
(shared.settings.use_settings): the environment is read, never written."""

import json
import os

import boto3
import pytest
from botocore.exceptions import ClientError

from shared.admin_cli import build_parser, command_settings
from shared.admin_cli import main as crm_admin
from shared.local.typesense import LOCAL_TYPESENSE_API_KEY
from shared.repository.table import create_table, dynamodb_client
from shared.settings import Settings, get_settings


def test_a_command_uses_the_table_its_options_name_and_leaves_the_environment_as_it_was(table, capsys):
    create_table(dynamodb_client(), "crm-ops")
    environment = dict(os.environ)

    assert crm_admin(["bootstrap", "--account-name", "Globex", "--table-name", "crm-ops"]) == 0

    assert dict(os.environ) == environment
    account_id = json.loads(capsys.readouterr().out)["accountId"]
    written = {table_name: boto3.client("dynamodb").scan(TableName=table_name)["Items"]
               for table_name in ("crm-ops", table)}
    assert any(item.get("accountId") == {"S": account_id} for item in written["crm-ops"])
    assert written[table] == []
    # Afterwards the process is back on the environment's settings.
    assert get_settings() == Settings.model_validate(dict(os.environ))
    assert get_settings().table_name == table


def test_a_failing_command_also_leaves_environment_and_settings_as_they_were(table, capsys):
    environment = dict(os.environ)

    assert crm_admin(["limits", "show", "--account-id", "account_nope", "--table-name", table]) == 1
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        crm_admin(["limits", "show", "--account-id", "account_nope", "--table-name", "crm-missing",
                   "--region", "eu-west-1"])

    assert dict(os.environ) == environment
    assert get_settings() == Settings.model_validate(dict(os.environ))


def test_without_connection_options_a_command_targets_the_local_stack(monkeypatch):
    monkeypatch.setenv("DYNAMODB_PORT", "8123")
    environment = dict(os.environ)

    settings = command_settings(build_parser().parse_args(["limits", "show", "--account-id", "a"]))

    assert (settings.table_name, settings.dynamodb_endpoint_url) == ("crm-local", "http://127.0.0.1:8123")
    # The rest comes from the environment, which is only read.
    assert settings.pagination_secret == get_settings().pagination_secret
    assert dict(os.environ) == environment


def test_a_deployed_table_is_reached_at_its_regional_endpoint():
    args = build_parser().parse_args(["limits", "show", "--account-id", "a", "--table-name", "crm-prod",
                                      "--region", "eu-central-1"])

    settings = command_settings(args)

    assert (settings.table_name, settings.aws_region, settings.dynamodb_endpoint_url) == (
        "crm-prod", "eu-central-1", None)


def test_search_commands_name_their_index_in_the_settings(monkeypatch):
    monkeypatch.delenv("TYPESENSE_API_KEY", raising=False)
    monkeypatch.delenv("TYPESENSE_NODES", raising=False)
    monkeypatch.delenv("TYPESENSE_URL", raising=False)
    monkeypatch.setenv("TYPESENSE_PORT", "8999")
    environment = dict(os.environ)

    local = command_settings(build_parser().parse_args(["reindex", "--table-name", "crm-test",
                                                        "--collection", "crm-records-test"]))
    monkeypatch.setenv("TYPESENSE_API_KEY", "key-from-the-environment")
    deployed = command_settings(build_parser().parse_args([
        "verify-index", "--table-name", "crm-test", "--typesense-nodes", "https://search.example.com",
        "--typesense-api-key-secret-arn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:typesense",
    ]))

    assert local.typesense_nodes == "http://127.0.0.1:8999"
    assert local.typesense_collection == "crm-records-test"
    assert local.typesense_api_key.get_secret_value() == LOCAL_TYPESENSE_API_KEY
    assert deployed.typesense_nodes == "https://search.example.com"
    assert deployed.typesense_api_key is None  # the secret the option names, not the environment's key
    assert deployed.typesense_api_key_secret_arn.endswith(":secret:typesense")
    monkeypatch.delenv("TYPESENSE_API_KEY")
    assert dict(os.environ) == environment
