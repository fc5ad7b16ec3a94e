"""Record changes: the custom event bus, and the stream reaching the events function with the indexer's
safety settings and a filter passing record and trash items."""

import json

from shared.routes import EVENTS_HANDLER

from .helpers import data_table, function_id, only, resources


def test_the_stack_has_one_custom_event_bus_named_in_the_events_function(cfn):
    bus_id, bus = only(cfn, "AWS::Events::EventBus")
    variables = cfn["Resources"][function_id(cfn, EVENTS_HANDLER)]["Properties"]["Environment"]["Variables"]

    assert bus["Properties"]["Name"] != "default"
    assert variables["EVENT_BUS_NAME"] == {"Ref": bus_id}
    assert cfn["Outputs"]["EventBusName"]["Value"] == {"Ref": bus_id}


def test_only_the_events_function_may_put_events_and_only_on_the_bus(cfn):
    bus_id, _ = only(cfn, "AWS::Events::EventBus")
    puts = []
    for policy in resources(cfn, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("events:") for a in actions):
                puts.append((actions, statement["Resource"], policy["Properties"]["Roles"]))
    role = cfn["Resources"][function_id(cfn, EVENTS_HANDLER)]["Properties"]["Role"]["Fn::GetAtt"][0]

    assert puts == [("events:PutEvents", {"Fn::GetAtt": [bus_id, "Arn"]}, [{"Ref": role}])] or puts == [
        (["events:PutEvents"], {"Fn::GetAtt": [bus_id, "Arn"]}, [{"Ref": role}])]


def test_the_stream_reaches_the_events_function_as_it_reaches_the_indexer(cfn):
    table_id, _ = data_table(cfn)
    function = {"Ref": function_id(cfn, EVENTS_HANDLER)}
    (mapping,) = [m["Properties"] for m in resources(cfn, "AWS::Lambda::EventSourceMapping").values()
                  if m["Properties"]["FunctionName"] == function]
    (queue_id,) = [k for k in resources(cfn, "AWS::SQS::Queue") if k.startswith("ChangeEvents")]

    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["BatchSize"] == 100
    assert mapping["MaximumBatchingWindowInSeconds"] == 0  # webhooks and the feed as fresh as search
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == 10_000
    assert mapping["MaximumRecordAgeInSeconds"] == 24 * 3600
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert json.loads(mapping["FilterCriteria"]["Filters"][0]["Pattern"]) == {
        "dynamodb": {"Keys": {"SK": {"S": ["RECORD", "TRASH"]}}}
    }
    queue = cfn["Resources"][queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True and queue["MessageRetentionPeriod"] == 14 * 24 * 3600
