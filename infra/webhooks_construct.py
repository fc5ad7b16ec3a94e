"""The queue of webhook deliveries and its dead-letter queue, feeding the delivery worker.

Each message is one delivery attempt to make, delayed until it is due (SQS allows 15 minutes; the
worker sends later ones back until they are due). A receiver's failure is retried by the worker through
the queue itself; the dead-letter queue takes only messages the worker itself failed on
MAX_RECEIVE_COUNT times (storage or the queue unreachable, a malformed message), and an alarm watches it.
"""

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge
from shared.routes import DELIVERIES_TIMEOUT_SECONDS, DELIVERY_BATCH_SIZE

MAX_RECEIVE_COUNT = 5
# AWS's advice for a queue feeding a function: at least six times the function's timeout.
VISIBILITY_TIMEOUT = Duration.seconds(6 * DELIVERIES_TIMEOUT_SECONDS)
MAX_BATCHING_WINDOW = Duration.seconds(0)


class WebhookQueuesConstruct(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self, "DeliveriesDeadLetters", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letters, "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the deliveries queue.",
        )
        self.deliveries = sqs.Queue(
            self, "Deliveries", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            visibility_timeout=VISIBILITY_TIMEOUT, retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=MAX_RECEIVE_COUNT),
        )

    def feed(self, worker: lambda_.IFunction) -> None:
        """The worker consumes the queue and reports the messages it failed on, not the whole batch."""
        worker.add_event_source(sources.SqsEventSource(
            self.deliveries, batch_size=DELIVERY_BATCH_SIZE, max_batching_window=MAX_BATCHING_WINDOW,
            report_batch_item_failures=True,
        ))
