"""Reads an SQS queue (moto's, in the local stack and the tests) and invokes a function with events of
Lambda's shape, as the deployed SQS event source does: batches of messages, and with
ReportBatchItemFailures only the messages the function reports failed come back (after their
visibility timeout, and to the dead-letter queue after the redrive policy's receive count). Messages
are received with a short poll, so moto's single-threaded server is never held by a long poll."""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from shared.local.events import AWS_ACCOUNT, REGION

log = logging.getLogger("queue")


def queue_arn(queue_url: str) -> str:
    return f"arn:aws:sqs:{REGION}:{AWS_ACCOUNT}:{queue_url.rstrip('/').rsplit('/', 1)[-1]}"


def lambda_record(message: dict[str, Any], arn: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attributes.get("SenderId", AWS_ACCOUNT),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp",
                                                               str(int(time.time() * 1000))),
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": REGION,
    }


class QueuePoller:
    def __init__(self, sqs_client: Any, queue_url: str, invoke: Callable[[dict[str, Any]], dict[str, Any]],
                 batch_size: int = 5):
        self._client = sqs_client
        self._url = queue_url
        self._arn = queue_arn(queue_url)
        self._invoke = invoke
        self._batch_size = batch_size

    def poll_once(self) -> int:
        """Receive what is visible now and hand it to the function; returns how many messages it got."""
        messages = self._client.receive_message(
            QueueUrl=self._url, MaxNumberOfMessages=self._batch_size, WaitTimeSeconds=0,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        try:
            response = self._invoke({"Records": [lambda_record(m, self._arn) for m in messages]}) or {}
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception as error:
            log.warning("the function failed a batch of %d messages: %s", len(messages), error)
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._client.delete_message_batch(QueueUrl=self._url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        return len(messages)

    def drain(self, attempts: int = 1000) -> int:
        """Poll until nothing is visible (tests): delayed messages stay in the queue."""
        total = 0
        for _ in range(attempts):
            received = self.poll_once()
            total += received
            if received == 0:
                return total
        return total

    def run(self, stop: threading.Event, idle_seconds: float = 0.02) -> None:
        pause = idle_seconds
        while not stop.is_set():
            try:
                if self.poll_once() == 0:
                    stop.wait(idle_seconds)
                pause = idle_seconds
            except Exception as error:
                log.warning("%s (next try in %.1fs)", error, pause)
                stop.wait(pause)
                pause = min(pause * 2, 5.0)


def create_delivery_queues(sqs_client: Any, name: str, max_receive_count: int = 5,
                           visibility_timeout: int = 60) -> tuple[str, str]:
    """The deliveries queue and its dead-letter queue, as the CDK app defines them; (queue url, DLQ url)."""
    dlq_url = sqs_client.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs_client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    import json

    queue_url = sqs_client.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": str(visibility_timeout),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
    })["QueueUrl"]
    return queue_url, dlq_url
