"""The webhook deliveries queue: encrypted, TLS only, a dead-letter queue for what the worker itself
fails on, and the worker fed by it with partial batch failures; the webhooks API function is served
from the route table."""

from shared.routes import DELIVERIES_HANDLER, ROUTE_GROUP_HANDLERS

from .helpers import function_id, named, resources


def _queues(cfn):
    dead_letters_id, dead_letters = named(cfn, "AWS::SQS::Queue", "WebhooksDeliveriesDeadLetters")
    [(queue_id, queue)] = [(k, q) for k, q in resources(cfn, "AWS::SQS::Queue").items()
                           if k.startswith("WebhooksDeliveries") and k != dead_letters_id]
    return queue_id, queue, dead_letters_id, dead_letters


def test_the_deliveries_queue_and_its_dead_letters_are_encrypted_and_redrive_after_five_receives(cfn):
    queue_id, queue, dead_letters_id, dead_letters = _queues(cfn)

    assert queue["Properties"] == {
        "SqsManagedSseEnabled": True,
        "VisibilityTimeout": 360,
        "MessageRetentionPeriod": 4 * 24 * 3600,
        "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [dead_letters_id, "Arn"]}, "maxReceiveCount": 5},
    }
    assert dead_letters["Properties"] == {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600}


def test_both_queues_refuse_requests_without_tls(cfn):
    queue_id, _, dead_letters_id, _ = _queues(cfn)
    policies = {p["Properties"]["Queues"][0]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
                for p in resources(cfn, "AWS::SQS::QueuePolicy").values()}

    for logical_id in (queue_id, dead_letters_id):
        [statement] = policies[logical_id]
        assert statement["Effect"] == "Deny" and statement["Action"] == "sqs:*"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_worker_consumes_the_queue_reporting_partial_failures(cfn):
    queue_id, *_ = _queues(cfn)
    [mapping] = [m["Properties"] for m in resources(cfn, "AWS::Lambda::EventSourceMapping").values()
                 if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}]

    assert mapping["FunctionName"] == {"Ref": function_id(cfn, DELIVERIES_HANDLER)}
    assert mapping["BatchSize"] == 5
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_api_function_and_the_worker_are_told_the_queue(cfn):
    queue_id, *_ = _queues(cfn)
    for handler in (ROUTE_GROUP_HANDLERS["webhooks"], DELIVERIES_HANDLER):
        variables = cfn["Resources"][function_id(cfn, handler)]["Properties"]["Environment"]["Variables"]
        assert variables["WEBHOOK_QUEUE_URL"] == {"Ref": queue_id}
        assert "WEBHOOKS_ALLOW_LOCAL_HTTP" not in variables  # deployed: https to public addresses only
