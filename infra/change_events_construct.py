"""Record changes: the custom event bus every change is put on, and the table's stream feeding the
events function with the indexer's safety settings.

The events function gets its own event source mapping (its own position in the stream): only record
and trash items pass its filter. It reports partial failures (the first change it could not record and
every change after it); a failing batch is split; retries are finite and last as long as the stream
keeps records (24 h); only then are records given up and noted in an encrypted queue, with an alarm.
"""

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.search_indexing_construct import consume_stream, stream_failure_queue
from shared.repository.keys import RECORD_SK, TRASH_SK


class ChangeEventsConstruct(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # Attach rules to it (source "crm.records") to act on record changes.
        self.bus = events.EventBus(self, "Bus", description="Record changes of the CRM records API")
        self.failures = stream_failure_queue(self, "ChangeEventsFailures")

    def consume(self, *, table: dynamodb.ITable, consumer: lambda_.IFunction) -> None:
        """Feed the events function from the table's stream: record and trash items only."""
        consume_stream(consumer, table, self.failures, [RECORD_SK, TRASH_SK])
