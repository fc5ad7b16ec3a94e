"""Alarms on API 5xx, throttles of every function, indexing errors, failures, stream lag, index drift and
webhook deliveries (dead letters, worker errors, messages waiting)."""

import json

from shared.routes import DELIVERIES_HANDLER, EVENTS_HANDLER, INDEXER_HANDLER, VERIFIER_HANDLER

from .helpers import function_id, named, only, resources


def _alarms(cfn):
    return list(resources(cfn, "AWS::CloudWatch::Alarm").values())


def _dimension_refs(alarm):
    return [d["Value"] for d in alarm["Properties"].get("Dimensions", [])]


def test_every_alarm_notifies_the_alarm_topic(cfn):
    topic_id, _ = only(cfn, "AWS::SNS::Topic")

    for alarm in _alarms(cfn):
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]


def test_every_function_has_a_throttles_alarm(cfn):
    throttled = [
        _dimension_refs(a) for a in _alarms(cfn) if a["Properties"]["MetricName"] == "Throttles"
    ]

    for logical_id in resources(cfn, "AWS::Lambda::Function"):
        assert [{"Ref": logical_id}] in throttled


def test_api_5xx_stream_consumer_errors_failures_and_iterator_age_are_watched(cfn):
    by_metric = {}
    for alarm in _alarms(cfn):
        by_metric.setdefault(alarm["Properties"]["MetricName"], []).append(alarm["Properties"])
    assert by_metric["5XXError"][0]["Namespace"] == "AWS/ApiGateway"

    # Both stream consumers: the indexer with its failure queue, the events function with its own.
    for handler, queue_prefix in ((INDEXER_HANDLER, "SearchIndexing"), (EVENTS_HANDLER, "ChangeEvents")):
        function = {"Ref": function_id(cfn, handler)}
        (queue_id,) = [k for k in resources(cfn, "AWS::SQS::Queue") if k.startswith(queue_prefix)]
        assert any(function in [d["Value"] for d in a["Dimensions"]] for a in by_metric["Errors"]), handler
        assert [a["Threshold"] for a in by_metric["IteratorAge"] if a["Dimensions"][0]["Value"] == function] == [
            300_000], handler
        assert any(a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue_id, "QueueName"]}
                   for a in by_metric["ApproximateNumberOfMessagesVisible"]), handler


def test_index_drift_found_by_the_verifier_and_its_failures_raise_alarms(cfn):
    verifier = {"Ref": function_id(cfn, VERIFIER_HANDLER)}
    alarms = [a["Properties"] for a in _alarms(cfn)]
    variables = cfn["Resources"][verifier["Ref"]]["Properties"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "CrmRecordsApi"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "verifier"

    [drift] = [a for a in alarms if a["MetricName"] == "IndexDrift"]
    assert {k: drift[k] for k in ("Namespace", "Dimensions", "Statistic", "Period", "Threshold",
                                  "ComparisonOperator", "TreatMissingData")} == {
        "Namespace": "CrmRecordsApi", "Dimensions": [{"Name": "service", "Value": "verifier"}], "Statistic": "Sum",
        "Period": 3600, "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }
    assert any(a["MetricName"] == "Errors" and a["Dimensions"] == [{"Name": "FunctionName", "Value": verifier}]
               for a in alarms)


def test_webhook_dead_letters_worker_errors_and_waiting_deliveries_raise_alarms(cfn):
    deliveries = {"Ref": function_id(cfn, DELIVERIES_HANDLER)}
    dead_letters, _ = named(cfn, "AWS::SQS::Queue", "WebhooksDeliveriesDeadLetters")
    queue = [k for k in resources(cfn, "AWS::SQS::Queue") if k.startswith("WebhooksDeliveries")
             and not k.startswith("WebhooksDeliveriesDeadLetters")]
    watched = {(a["Properties"]["MetricName"], json.dumps(a["Properties"]["Dimensions"], sort_keys=True)):
               {k: a["Properties"][k] for k in ("Namespace", "Statistic", "Period", "Threshold",
                                                  "ComparisonOperator", "TreatMissingData")}
               for a in _alarms(cfn)}

    def key(metric, name, value):
        return metric, json.dumps([{"Name": name, "Value": value}], sort_keys=True)

    assert watched[key("ApproximateNumberOfMessagesVisible", "QueueName",
                       {"Fn::GetAtt": [dead_letters, "QueueName"]})] == {
        "Namespace": "AWS/SQS", "Statistic": "Maximum", "Period": 300, "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}
    assert watched[key("Errors", "FunctionName", deliveries)] == {
        "Namespace": "AWS/Lambda", "Statistic": "Sum", "Period": 300, "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}
    assert len(queue) == 1
    assert watched[key("ApproximateAgeOfOldestMessage", "QueueName", {"Fn::GetAtt": [queue[0], "QueueName"]})] == {
        "Namespace": "AWS/SQS", "Statistic": "Maximum", "Period": 300, "Threshold": 1800,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching"}
