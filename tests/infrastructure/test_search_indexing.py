"""The stream reaches the indexer with finite retries, bisection and a failure queue."""

import json

from shared.routes import INDEXER_HANDLER

from .helpers import function_id, only


def test_stream_event_source_gives_up_on_bad_records_safely(cfn):
    table_id, _ = only(cfn, "AWS::DynamoDB::Table")
    queue_id, _ = only(cfn, "AWS::SQS::Queue")
    _, mapping = only(cfn, "AWS::Lambda::EventSourceMapping")
    properties = mapping["Properties"]

    assert properties["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert properties["FunctionName"] == {"Ref": function_id(cfn, INDEXER_HANDLER)}
    assert properties["StartingPosition"] == "TRIM_HORIZON"
    assert properties["BatchSize"] == 100
    assert properties["MaximumBatchingWindowInSeconds"] > 0
    assert properties["BisectBatchOnFunctionError"] is True
    assert 0 < properties["MaximumRetryAttempts"] <= 10_000  # finite, yet enough to ride out an outage
    assert properties["MaximumRecordAgeInSeconds"] == 24 * 3600  # as long as the stream keeps records
    assert json.loads(properties["FilterCriteria"]["Filters"][0]["Pattern"]) == {
        "dynamodb": {"Keys": {"SK": {"S": ["RECORD"]}}}
    }
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_failure_queue_is_encrypted_and_keeps_messages_two_weeks(cfn):
    _, queue = only(cfn, "AWS::SQS::Queue")

    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
