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

# Freshness: a write should be findable (and reach the events function) within 1 s p95 when deployed.
# With no batching window the poller invokes as soon as a poll (about 4 a second per shard) finds
# records: stream propagation + up to 250 ms until the next poll + one warm invocation (a batch of 100
# takes about 10 ms in Typesense) stays well under 1 s, where a 1 s window alone would use it all up.
# Batches of 100 keep up with the busiest shard (a partition takes at most 1,000 writes/s): at ~40 ms
# an invocation one shard can index about 2,500 records/s. Under load batches fill up by themselves;
# when quiet, each invocation carries a few records (more invocations, which cost little). README.md,
# "Search freshness", gives the figures.
BATCH_SIZE = 100
MAX_BATCHING_WINDOW = Duration.seconds(0)
RETRY_ATTEMPTS = 10_000
MAX_RECORD_AGE = Duration.hours(24)
VERIFY_EVERY = Duration.hours(1)


def stream_failure_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """Where a stream consumer notes the records it gave up: where they were in the stream (shard and
    sequence numbers), not the records themselves."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    acknowledge(
        queue, "AwsSolutions-SQS3",
        "This queue is itself the failure destination of the stream and holds only failure records.",
    )
    return queue


def consume_stream(consumer: lambda_.IFunction, table: dynamodb.ITable, failures: sqs.IQueue,
                   sort_keys: list[str]) -> None:
    """Feed a function from the table's stream, its own event source mapping with the safety settings
    the defaults lack (see above), passing only items with these sort keys."""
    consumer.add_event_source(sources.DynamoEventSource(
        table,
        starting_position=lambda_.StartingPosition.TRIM_HORIZON,
        batch_size=BATCH_SIZE,
        max_batching_window=MAX_BATCHING_WINDOW,
        bisect_batch_on_error=True,
        retry_attempts=RETRY_ATTEMPTS,
        max_record_age=MAX_RECORD_AGE,
        on_failure=sources.SqsDlq(failures),
        report_batch_item_failures=True,
        filters=[lambda_.FilterCriteria.filter({"dynamodb": {"Keys": {"SK": {"S": sort_keys}}}})],
    ))


class SearchIndexingConstruct(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, table: dynamodb.ITable, indexer: lambda_.IFunction,
        verifier: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        # Reindex the items whose records land here from the table.
        self.failures = stream_failure_queue(self, "IndexingFailures")
        consume_stream(indexer, table, self.failures, [RECORD_SK])
        # A run that finds nothing to resume starts over; a failed run is simply retried by the next one.
        events.Rule(
            self, "VerifySchedule", description="Check the search index against the table and repair it",
            schedule=events.Schedule.rate(VERIFY_EVERY), targets=[targets.LambdaFunction(verifier, retry_attempts=0)],
        )
