"""One function per route group plus the authorizer, the indexer and the index verifier, sharing one
asset and one set of defaults, each allowed only the partitions it works on."""

import pytest

from infra.functions_construct import GROUP_ACCESS, READ_ONLY, access_for, lambda_handler
from shared.repository.keys import PARTITION_PREFIXES
from shared.repository.table import TABLE_DEFINITION
from shared.routes import AUTHORIZER_HANDLER, INDEXER_HANDLER, ROUTE_GROUP_HANDLERS, VERIFIER_HANDLER

from .helpers import (
    as_list,
    dynamodb_actions,
    function_id,
    function_ids_by_handler,
    leading_keys,
    only,
    policy_statements,
    resources,
    table_arn,
)

# Actions that change items. (A condition check only verifies an item inside a transaction.)
WRITE_ACTIONS = {
    "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete",
}


def _table_statements(cfn, entry_point=None, logical_id=None):
    """The statements whose resource is the table itself (item-level access)."""
    arn = table_arn(cfn)
    logical_id = logical_id or function_id(cfn, entry_point)
    return [s for s in policy_statements(cfn, logical_id) if arn in as_list(s["Resource"])]


def _allowed_prefixes(statements, writable: bool) -> set[str]:
    return {
        prefix
        for s in statements
        if not writable or dynamodb_actions(s) & WRITE_ACTIONS
        for prefix in (leading_keys(s) or set())
    }


def _prefixes(kinds) -> set[str]:
    return {f"{PARTITION_PREFIXES[kind]}*" for kind in kinds}


def test_one_function_per_route_group_plus_authorizer_indexer_and_verifier(cfn):
    expected = {lambda_handler(h) for h in (*ROUTE_GROUP_HANDLERS.values(), AUTHORIZER_HANDLER, INDEXER_HANDLER,
                                            VERIFIER_HANDLER)}

    assert set(function_ids_by_handler(cfn)) == expected


def test_functions_share_one_asset_and_the_same_defaults(cfn):
    functions = resources(cfn, "AWS::Lambda::Function")
    verifier = function_id(cfn, VERIFIER_HANDLER)

    assert len({f["Properties"]["Code"]["S3Key"] for f in functions.values()}) == 1
    for logical_id, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] in ("python3.12", "python3.13")
        assert properties["Architectures"] == ["arm64"]
        assert properties["MemorySize"] == 512
        # Behind API Gateway or the stream, a function answers within 29 s; the scheduled verifier has 5 minutes.
        assert properties["Timeout"] == 300 if logical_id == verifier else properties["Timeout"] <= 29
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["LoggingConfig"]["LogFormat"] == "JSON"
        variables = properties["Environment"]["Variables"]
        assert variables["TABLE_NAME"] == {"Ref": only(cfn, "AWS::DynamoDB::Table")[0]}
        assert variables["POWERTOOLS_SERVICE_NAME"]
        assert variables["POWERTOOLS_LOG_LEVEL"] == properties["LoggingConfig"]["ApplicationLogLevel"]


def test_api_functions_read_the_pagination_secret_and_the_others_do_not(cfn):
    secrets = resources(cfn, "AWS::SecretsManager::Secret")
    pagination = next(k for k, s in secrets.items() if "pagination" in s["Properties"]["Description"].lower())
    api_handlers = {lambda_handler(h) for h in ROUTE_GROUP_HANDLERS.values()}

    for handler, logical_id in function_ids_by_handler(cfn).items():
        variables = cfn["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        reads_secret = any(
            "secretsmanager:GetSecretValue" in as_list(s["Action"]) and {"Ref": pagination} in as_list(s["Resource"])
            for s in policy_statements(cfn, logical_id)
        )
        if handler in api_handlers:
            assert variables["PAGINATION_SECRET_ARN"] == {"Ref": pagination}
            assert reads_secret, handler
        else:
            assert "PAGINATION_SECRET_ARN" not in variables
            assert not reads_secret, handler


def test_only_the_indexer_and_verifier_get_the_typesense_admin_key_and_only_search_the_search_key(cfn):
    def configured(variable: str) -> set[str]:
        def environment(logical_id: str) -> set[str]:
            return set(cfn["Resources"][logical_id]["Properties"]["Environment"]["Variables"])

        return {h for h, logical_id in function_ids_by_handler(cfn).items()
                if {"TYPESENSE_NODES", variable} <= environment(logical_id)}

    assert configured("TYPESENSE_API_KEY_SECRET_ARN") == {lambda_handler(INDEXER_HANDLER),
                                                          lambda_handler(VERIFIER_HANDLER)}
    assert configured("TYPESENSE_SEARCH_KEY_SECRET_ARN") == {
        lambda_handler(h) for group, h in ROUTE_GROUP_HANDLERS.items() if access_for(group).typesense == "search"
    } == {lambda_handler(ROUTE_GROUP_HANDLERS["search"])}


def test_every_item_statement_on_the_table_is_scoped_by_leading_keys(cfn):
    for handler, logical_id in function_ids_by_handler(cfn).items():
        for statement in _table_statements(cfn, logical_id=logical_id):
            assert leading_keys(statement), f"{handler}: {statement}"


@pytest.mark.parametrize("group", sorted(ROUTE_GROUP_HANDLERS))
def test_each_route_group_reaches_exactly_its_partitions(cfn, group):
    access = access_for(group)
    statements = _table_statements(cfn, ROUTE_GROUP_HANDLERS[group])

    assert _allowed_prefixes(statements, writable=True) == _prefixes(access.writes)
    assert _allowed_prefixes(statements, writable=False) == _prefixes(access.writes + access.reads)


def test_records_function_only_reads_token_partitions(cfn):
    statements = policy_statements(cfn, function_id(cfn, ROUTE_GROUP_HANDLERS["records"]))
    table_statements = _table_statements(cfn, ROUTE_GROUP_HANDLERS["records"])

    assert table_statements
    assert all(not dynamodb_actions(s) or s["Resource"] != "*" for s in statements)
    # Tokens, users and accounts are read to confirm the caller on every request.
    assert _allowed_prefixes(table_statements, writable=False) == _prefixes(["account", "record", "channel", "counts",
                                                                             "rate", "token"])
    # Users, kanbans and limits live in the account partitions: the records function only reads them.
    assert _allowed_prefixes(table_statements, writable=True) == _prefixes(["record", "channel", "counts", "rate"])


def test_index_queries_are_a_separate_statement_on_the_indexes(cfn):
    statements = policy_statements(cfn, function_id(cfn, ROUTE_GROUP_HANDLERS["records"]))
    index_names = {i["IndexName"] for i in TABLE_DEFINITION["GlobalSecondaryIndexes"]}

    index_statements = [s for s in statements if s["Action"] == "dynamodb:Query" and "Condition" not in s]

    assert len(index_statements) == 1
    resources_text = [str(r) for r in as_list(index_statements[0]["Resource"])]
    assert len(resources_text) == len(index_names)
    assert all(any(f"/index/{name}" in text for text in resources_text) for name in index_names)


def test_authorizer_only_reads_token_and_account_partitions(cfn):
    statements = _table_statements(cfn, AUTHORIZER_HANDLER)

    assert not any(dynamodb_actions(s) & WRITE_ACTIONS for s in statements)
    assert _allowed_prefixes(statements, writable=False) == _prefixes(["token", "account"])


def test_indexer_reads_the_stream_and_reaches_only_the_repair_partitions(cfn):
    statements = policy_statements(cfn, function_id(cfn, INDEXER_HANDLER))
    table_statements = _table_statements(cfn, INDEXER_HANDLER)
    stream_actions = set().union(*(dynamodb_actions(s) for s in statements if s not in table_statements))

    assert stream_actions <= {
        "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
    }
    assert {"dynamodb:GetRecords", "dynamodb:GetShardIterator"} <= stream_actions
    assert [leading_keys(s) for s in table_statements] == [{"REPAIR*"}]
    assert not any(s["Action"] == "dynamodb:Query" and "Condition" not in s for s in statements)


def test_verifier_reads_accounts_and_records_and_writes_only_the_repair_partitions(cfn):
    statements = _table_statements(cfn, VERIFIER_HANDLER)
    index_queries = [s for s in policy_statements(cfn, function_id(cfn, VERIFIER_HANDLER))
                     if s["Action"] == "dynamodb:Query" and "Condition" not in s]

    assert _allowed_prefixes(statements, writable=True) == {"REPAIR*"}
    assert _allowed_prefixes(statements, writable=False) == {"REPAIR*", "ACCOUNT*", "RECORD#*"}
    assert len(index_queries) == 1


def test_a_group_without_an_entry_gets_read_only_access():
    access = access_for("a-group-added-later")

    assert access.reads == (*READ_ONLY.reads, "token")
    assert access.writes == ("rate",)


def test_read_only_groups_write_only_their_request_counters():
    assert GROUP_ACCESS["meta"].writes == GROUP_ACCESS["search"].writes == ()
    assert access_for("meta").writes == access_for("search").writes == ("rate",)
