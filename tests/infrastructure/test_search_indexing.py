"""The stream reaches the indexer with finite retries, bisection and a failure queue; the verifier runs
every hour."""

import json

from shared.routes import INDEXER_HANDLER, VERIFIER_HANDLER

from .helpers import data_table, function_id, only, resources


def indexing_queue(cfn):
    (found,) = [(k, q) for k, q in resources(cfn, "AWS::SQS::Queue").items() if k.startswith("SearchIndexing")]
    return found


def mapping_of(cfn, entry_point):
    function = {"Ref": function_id(cfn, entry_point)}
    (mapping,) = [m for m in resources(cfn, "AWS::Lambda::EventSourceMapping").values()
                  if m["Properties"]["FunctionName"] == function]
    return mapping


def test_stream_event_source_gives_up_on_bad_records_safely(cfn):
    table_id, _ = data_table(cfn)
    queue_id, _ = indexing_queue(cfn)
    mapping = mapping_of(cfn, INDEXER_HANDLER)
    properties = mapping["Properties"]

    assert properties["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert properties["FunctionName"] == {"Ref": function_id(cfn, INDEXER_HANDLER)}
    assert properties["StartingPosition"] == "TRIM_HORIZON"
    assert properties["BatchSize"] == 100
    # No batching window: invoked as soon as a poll finds records, for at most 1 s p95 write->findable.
    assert properties["MaximumBatchingWindowInSeconds"] == 0
    assert properties["BisectBatchOnFunctionError"] is True
    assert 0 < properties["MaximumRetryAttempts"] <= 10_000  # finite, yet enough to ride out an outage
    assert properties["MaximumRecordAgeInSeconds"] == 24 * 3600  # as long as the stream keeps records
    assert json.loads(properties["FilterCriteria"]["Filters"][0]["Pattern"]) == {
        "dynamodb": {"Keys": {"SK": {"S": ["RECORD"]}}}
    }
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_failure_queue_is_encrypted_and_keeps_messages_two_weeks(cfn):
    _, queue = indexing_queue(cfn)

    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_the_verifier_runs_every_hour(cfn):
    verifier = function_id(cfn, VERIFIER_HANDLER)
    _, rule = only(cfn, "AWS::Events::Rule")

    assert rule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    assert rule["Properties"]["State"] == "ENABLED"
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [verifier, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    assert [p["Properties"]["Principal"] for p in resources(cfn, "AWS::Lambda::Permission").values()
            if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [verifier, "Arn"]}] == ["events.amazonaws.com"]
