"""The table's stream feeding the indexer, with the safety settings the defaults lack.

Only record items reach the indexer (an event filter drops counters, locks and index entries). The
indexer reports partial failures, so good records of a batch are not redone; a failing batch is split
to isolate a bad record. A search-engine outage must lose nothing, so retries are many (the indexer
fails a whole batch fast when the engine is unreachable) and last as long as the stream keeps records
(24 h); only then are records given up and noted in an encrypted queue, with an alarm, for a reindex.

Every hour the verifier checks the index against the table and repairs what drifted (documents lost,
stale or left behind, and those the engine refused, which the indexer notes instead of retrying).
"""

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge
from shared.repository.keys import RECORD_SK

BATCH_SIZE = 100
MAX_BATCHING_WINDOW = Duration.seconds(2)
RETRY_ATTEMPTS = 10_000
MAX_RECORD_AGE = Duration.hours(24)
VERIFY_EVERY = Duration.hours(1)


class SearchIndexingConstruct(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, table: dynamodb.ITable, indexer: lambda_.IFunction,
        verifier: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        # What lands here is where the failed records were (shard and sequence numbers), not the
        # records: reindex those items from the table.
        self.failures = sqs.Queue(
            self,
            "IndexingFailures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.failures, "AwsSolutions-SQS3",
            "This queue is itself the failure destination of the stream and holds only failure records.",
        )
        indexer.add_event_source(sources.DynamoEventSource(
            table,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=BATCH_SIZE,
            max_batching_window=MAX_BATCHING_WINDOW,
            bisect_batch_on_error=True,
            retry_attempts=RETRY_ATTEMPTS,
            max_record_age=MAX_RECORD_AGE,
            on_failure=sources.SqsDlq(self.failures),
            report_batch_item_failures=True,
            filters=[lambda_.FilterCriteria.filter({"dynamodb": {"Keys": {"SK": {"S": [RECORD_SK]}}}})],
        ))
        # A run that finds nothing to resume starts over; a failed run is simply retried by the next one.
        events.Rule(
            self, "VerifySchedule", description="Check the search index against the table and repair it",
            schedule=events.Schedule.rate(VERIFY_EVERY), targets=[targets.LambdaFunction(verifier, retry_attempts=0)],
        )
