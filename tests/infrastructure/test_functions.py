"""One function per route group plus the authorizer, the indexer, the events function and the index
verifier, sharing one asset and one set of defaults, each allowed only the partitions it works on.

What each function may do is written out below as literal data, read from nothing in infra/: a grant
widened in the construct (the admin function writing records, say) fails
test_each_function_is_granted_exactly_its_literal_access until this file says so too.
"""

import pytest

from infra.functions_construct import access_for, architecture_from_context, lambda_handler
from shared.routes import (
    AUTHORIZER_HANDLER,
    DELIVERIES_HANDLER,
    EVENTS_HANDLER,
    INDEXER_HANDLER,
    ROUTE_GROUP_HANDLERS,
    VERIFIER_HANDLER,
)

from .helpers import (
    data_table,
    format_grant_key,
    format_grants,
    function_grants,
    function_id,
    function_ids_by_handler,
    function_names,
    on,
    resources,
)

READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"}
WRITE = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
SECRET_READ = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
QUEUE_SEND = {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
# Every function writes its own log group and sends X-Ray traces (which cannot be narrowed from "*").
EVERY_FUNCTION = {
    on("own log group"): {"logs:CreateLogStream", "logs:PutLogEvents"},
    on("*"): {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
}
# Index partitions are not item partitions, so LeadingKeys cannot scope queries on the indexes.
INDEXES = ("GSI1", "GSI2", "GSI3", "GSI4", "FieldValueIndex")
INDEX_QUERIES = {on(f"index {name}"): {"dynamodb:Query"} for name in INDEXES}
PAGINATION_SECRET = {on("secret FunctionsPaginationSecret"): SECRET_READ}
# Every API function keeps the Idempotency-Key records of its writes (Powertools' persistence layer).
IDEMPOTENCY = {on("table IdempotencyTable"): {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                              "dynamodb:DeleteItem"}}

# Function (the package of its handler) -> {on(resource, *LeadingKeys prefixes): actions}. Every API
# function reads the caller's token, user and account (ACCOUNT*, TOKEN#*) and counts the request (RATE#*).
# All partitions a function reads are in one statement: a BatchGetItem is allowed only when a single
# statement's LeadingKeys cover every key it asks for (the token, user and account read together).
EXPECTED_GRANTS = {
    "records": {
        **EVERY_FUNCTION, **PAGINATION_SECRET, **IDEMPOTENCY, **INDEX_QUERIES,
        on("table", "ACCOUNT*", "CHANNEL#*", "COUNTS#*", "RATE#*", "RECORD#*", "TOKEN#*", "UNIQUE#*"): READ,
        on("table", "CHANNEL#*", "COUNTS#*", "RATE#*", "RECORD#*", "UNIQUE#*"): WRITE,
    },
    "kanbans": {
        **EVERY_FUNCTION, **PAGINATION_SECRET, **IDEMPOTENCY, **INDEX_QUERIES,
        on("table", "ACCOUNT*", "COUNTS#*", "RATE#*", "RECORD#*", "TOKEN#*", "UNIQUE#*"): READ,
        on("table", "ACCOUNT*", "COUNTS#*", "RATE#*", "RECORD#*", "UNIQUE#*"): WRITE,
    },
    "meta": {
        **EVERY_FUNCTION, **PAGINATION_SECRET, **IDEMPOTENCY,
        on("table", "ACCOUNT*", "RATE#*", "TOKEN#*"): READ,
        on("table", "RATE#*"): WRITE,
    },
    "admin": {
        **EVERY_FUNCTION, **PAGINATION_SECRET, **IDEMPOTENCY, **INDEX_QUERIES,
        on("table", "ACCOUNT*", "RATE#*", "TOKEN#*"): READ | WRITE,
    },
    "search": {
        **EVERY_FUNCTION, **PAGINATION_SECRET, **IDEMPOTENCY, **INDEX_QUERIES,
        on("secret FunctionsTypesenseSearchKey"): SECRET_READ,
        on("table", "ACCOUNT*", "COUNTS#*", "RATE#*", "RECORD#*", "TOKEN#*"): READ,
        on("table", "RATE#*"): WRITE,
    },
    "changes": {
        **EVERY_FUNCTION, **PAGINATION_SECRET, **IDEMPOTENCY,
        on("table", "ACCOUNT*", "FEED#*", "HISTORY#*", "RATE#*", "TOKEN#*"): READ,
        on("table", "RATE#*"): WRITE,
    },
    # The API's documentation, served without a token: no data, no secret, no idempotency table.
    "docs": {
        **EVERY_FUNCTION,
    },
    # Webhooks and their deliveries; kanbans (to limit a webhook to one) are in the account partition.
    "webhooks": {
        **EVERY_FUNCTION, **PAGINATION_SECRET, **IDEMPOTENCY,
        on("table", "ACCOUNT*", "DELIVERY#*", "RATE#*", "TOKEN#*", "WEBHOOK#*"): READ,
        on("table", "DELIVERY#*", "RATE#*", "WEBHOOK#*"): WRITE,
        on("queue WebhooksDeliveries"): QUEUE_SEND,
    },
    # The delivery worker: its webhook and delivery items, and the queue it consumes and sends retries to.
    "deliveries": {
        **EVERY_FUNCTION,
        on("table", "DELIVERY#*", "WEBHOOK#*"): READ | WRITE,
        on("queue WebhooksDeliveries"): QUEUE_SEND | {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility",
                                                     "sqs:DeleteMessage"},
    },
    "authorizer": {
        **EVERY_FUNCTION,
        on("table", "ACCOUNT*", "TOKEN#*"): READ,
    },
    "indexer": {
        on("own log group"): {"logs:CreateLogStream", "logs:PutLogEvents"},
        on("*"): {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "dynamodb:ListStreams"},
        on("secret FunctionsTypesenseApiKey"): SECRET_READ,
        on("table stream"): {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"},
        on("table", "REPAIR*"): READ | WRITE,
        on("queue SearchIndexingIndexingFailures"): {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
    },
    # The stream's images are all it reads of records: it writes history, feed entries and the feed's counter,
    # puts events on the bus, and queues webhook deliveries (reading the account's webhooks).
    "events": {
        on("own log group"): {"logs:CreateLogStream", "logs:PutLogEvents"},
        on("*"): {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "dynamodb:ListStreams"},
        on("table stream"): {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"},
        on("table", "DELIVERY#*", "FEED#*", "FEEDSEQ#*", "HISTORY#*", "WEBHOOK#*"): READ,
        on("table", "DELIVERY#*", "FEED#*", "FEEDSEQ#*", "HISTORY#*"): WRITE,
        on("queue WebhooksDeliveries"): QUEUE_SEND,
        on("queue ChangeEventsChangeEventsFailures"): {"sqs:SendMessage", "sqs:GetQueueAttributes",
                                                       "sqs:GetQueueUrl"},
        on("bus ChangeEventsBus"): {"events:PutEvents"},
    },
    "verifier": {
        **EVERY_FUNCTION, **INDEX_QUERIES,
        on("secret FunctionsTypesenseApiKey"): SECRET_READ,
        on("table", "ACCOUNT*", "RECORD#*", "REPAIR*"): READ,
        on("table", "REPAIR*"): WRITE,
    },
}


def _differences(expected, actual) -> list[str]:
    lines = []
    for key in sorted(set(expected) | set(actual), key=format_grant_key):
        granted, allowed = actual.get(key, frozenset()), frozenset(expected.get(key, ()))
        if granted - allowed:
            lines.append(f"granted, not in the literal: {format_grant_key(key)}: {sorted(granted - allowed)}")
        if allowed - granted:
            lines.append(f"in the literal, not granted: {format_grant_key(key)}: {sorted(allowed - granted)}")
    return lines


def test_one_function_per_route_group_plus_authorizer_stream_consumers_verifier_and_delivery_worker(cfn):
    expected = {lambda_handler(h) for h in (*ROUTE_GROUP_HANDLERS.values(), AUTHORIZER_HANDLER, INDEXER_HANDLER,
                                            EVENTS_HANDLER, VERIFIER_HANDLER, DELIVERIES_HANDLER)}

    assert set(function_ids_by_handler(cfn)) == expected


def test_the_architecture_is_arm64_unless_the_sam_test_asks_for_x86_64():
    assert architecture_from_context({}.get).name == "arm64"
    assert architecture_from_context({"architecture": "x86_64"}.get).name == "x86_64"
    with pytest.raises(ValueError, match="'amd64' is not one of"):
        architecture_from_context({"architecture": "amd64"}.get)


def test_functions_share_one_asset_and_the_same_defaults(cfn):
    functions = resources(cfn, "AWS::Lambda::Function")
    verifier = function_id(cfn, VERIFIER_HANDLER)
    deliveries = function_id(cfn, DELIVERIES_HANDLER)

    assert len({f["Properties"]["Code"]["S3Key"] for f in functions.values()}) == 1
    for logical_id, function in functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] in ("python3.12", "python3.13")
        assert properties["Architectures"] == ["arm64"]
        assert properties["MemorySize"] == 512
        # Behind API Gateway or the stream, a function answers within 29 s; the scheduled verifier has 5 minutes,
        # the delivery worker a minute (5 messages, each a POST of at most 10 s).
        expected_timeout = {verifier: 300, deliveries: 60}.get(logical_id)
        assert properties["Timeout"] == expected_timeout if expected_timeout else properties["Timeout"] <= 29
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["LoggingConfig"]["LogFormat"] == "JSON"
        variables = properties["Environment"]["Variables"]
        assert variables["TABLE_NAME"] == {"Ref": data_table(cfn)[0]}
        assert variables["POWERTOOLS_SERVICE_NAME"]
        assert variables["POWERTOOLS_LOG_LEVEL"] == properties["LoggingConfig"]["ApplicationLogLevel"]


def test_the_pagination_secret_is_configured_on_exactly_the_functions_granted_it(cfn):
    secrets = resources(cfn, "AWS::SecretsManager::Secret")
    (secret_id,) = [k for k in secrets if k.startswith("FunctionsPaginationSecret")]

    for name, logical_id in function_names(cfn).items():
        variables = cfn["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        if on("secret FunctionsPaginationSecret") in EXPECTED_GRANTS.get(name, {}):
            assert variables["PAGINATION_SECRET_ARN"] == {"Ref": secret_id}, name
        else:
            assert "PAGINATION_SECRET_ARN" not in variables, name


def test_the_idempotency_table_is_configured_on_exactly_the_functions_granted_it(cfn):
    tables = resources(cfn, "AWS::DynamoDB::Table")
    (table_id,) = [k for k in tables if k.startswith("IdempotencyTable")]

    for name, logical_id in function_names(cfn).items():
        variables = cfn["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        if on("table IdempotencyTable") in EXPECTED_GRANTS.get(name, {}):
            assert variables["IDEMPOTENCY_TABLE_NAME"] == {"Ref": table_id}, name
        else:
            assert "IDEMPOTENCY_TABLE_NAME" not in variables, name


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


def test_every_function_has_a_literal_entry(cfn):
    names = function_names(cfn)

    unlisted = sorted(set(names) - set(EXPECTED_GRANTS))
    assert not unlisted, "\n".join(
        [f"No literal entry in EXPECTED_GRANTS (tests/infrastructure/test_functions.py) for {unlisted}.",
         "Write by hand what each may do. A function with no access to the table or any secret has "
         "EVERY_FUNCTION only (its own log group and X-Ray): \"<name>\": {**EVERY_FUNCTION}. "
         "Granted today:"]
        + [f"{name!r}: {format_grants(function_grants(cfn, names[name]))}" for name in unlisted]
    )
    assert not set(EXPECTED_GRANTS) - set(names), f"no such function: {sorted(set(EXPECTED_GRANTS) - set(names))}"


@pytest.mark.parametrize("name", sorted(EXPECTED_GRANTS))
def test_each_function_is_granted_exactly_its_literal_access(cfn, name):
    names = function_names(cfn)
    assert name in names, f"EXPECTED_GRANTS lists {name!r}, which is not a function of the template"

    actual = function_grants(cfn, names[name])

    differences = _differences(EXPECTED_GRANTS[name], actual)
    assert not differences, f"{name}:\n" + "\n".join(differences) + f"\ngranted: {format_grants(actual)}"


def test_every_item_grant_on_the_table_is_scoped_by_leading_keys(cfn):
    for name, logical_id in function_names(cfn).items():
        for (resource, condition), actions in function_grants(cfn, logical_id).items():
            if resource == "table":
                assert isinstance(condition, frozenset) and condition, f"{name}: {sorted(actions)} on any partition"
