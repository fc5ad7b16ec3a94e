"""DynamoDB Streams -> search index. The batch is written to the index in bulk. When the engine is
unreachable the batch is reported failed, so the stream delivers it again; a document the engine
refuses for good is kept for the index verifier to repair, so it never holds back its shard."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from shared.logic.indexing import IndexingFailed, apply_changes
from shared.search.index import index_writer

logger = Logger(service="indexer")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@logger.inject_lambda_context
def handler(event, context):
    changes = [(r["eventName"], r["dynamodb"].get("NewImage"), r["dynamodb"].get("OldImage")) for r in event["Records"]]
    failed = {event["Records"][p]["dynamodb"]["SequenceNumber"] for p in apply_changes(index_writer(), changes)}

    def record_handler(record: DynamoDBRecord) -> None:
        if record.dynamodb.sequence_number in failed:
            raise IndexingFailed(f"change {record.dynamodb.sequence_number} was not indexed")

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
