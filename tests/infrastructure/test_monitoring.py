"""Alarms on API 5xx, throttles of every function, indexing errors, failures and stream lag."""

from shared.routes import INDEXER_HANDLER

from .helpers import function_id, only, resources


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


def test_api_5xx_indexer_errors_failures_and_iterator_age_are_watched(cfn):
    indexer = {"Ref": function_id(cfn, INDEXER_HANDLER)}
    queue_id, _ = only(cfn, "AWS::SQS::Queue")
    by_metric = {}
    for alarm in _alarms(cfn):
        by_metric.setdefault(alarm["Properties"]["MetricName"], []).append(alarm["Properties"])

    assert by_metric["5XXError"][0]["Namespace"] == "AWS/ApiGateway"
    assert any(indexer in [d["Value"] for d in a["Dimensions"]] for a in by_metric["Errors"])
    assert by_metric["IteratorAge"][0]["Dimensions"][0]["Value"] == indexer
    assert by_metric["ApproximateNumberOfMessagesVisible"][0]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": [queue_id, "QueueName"]
    }
