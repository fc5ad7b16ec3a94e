"""Record changes: the custom event bus every change is put on, and the table's stream feeding the
events function with the indexer's safety settings.

The events function gets its own event source mapping (its own position in the stream): only record
and trash items pass its filter. It reports partial failures (the first change it could not record and
every change after it); a failing batch is split; retries are finite and last as long as the stream
keeps records (24 h); only then are records given up and noted in an encrypted queue, with an alarm.
"""

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge
from infra.search_indexing_construct import BATCH_SIZE, MAX_BATCHING_WINDOW, MAX_RECORD_AGE, RETRY_ATTEMPTS
from shared.repository.keys import RECORD_SK, TRASH_SK


class ChangeEventsConstruct(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # Attach rules to it (source "crm.records") to act on record changes.
        self.bus = events.EventBus(self, "Bus", description="Record changes of the CRM records API")
        # What lands here is where the failed records were (shard and sequence numbers), not the records.
        self.failures = sqs.Queue(
            self,
            "ChangeEventsFailures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.failures, "AwsSolutions-SQS3",
            "This queue is itself the failure destination of the stream and holds only failure records.",
        )

    def consume(self, *, table: dynamodb.ITable, consumer: lambda_.IFunction) -> None:
        """Feed the events function from the table's stream: record and trash items only."""
        consumer.add_event_source(sources.DynamoEventSource(
            table,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=BATCH_SIZE,
            max_batching_window=MAX_BATCHING_WINDOW,
            bisect_batch_on_error=True,
            retry_attempts=RETRY_ATTEMPTS,
            max_record_age=MAX_RECORD_AGE,
            on_failure=sources.SqsDlq(self.failures),
            report_batch_item_failures=True,
            filters=[lambda_.FilterCriteria.filter({"dynamodb": {"Keys": {"SK": {"S": [RECORD_SK, TRASH_SK]}}}})],
        ))
