"""DynamoDB Streams -> search index. Failed records are reported as partial batch failures, so the
stream retries them (and everything after them in the shard) while the rest of the batch succeeds."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from shared.logic.indexing import apply_change
from shared.search.index import search_index

logger = Logger(service="indexer")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    change = record.raw_event.get("dynamodb", {})
    apply_change(search_index(), record.raw_event["eventName"], change.get("NewImage"), change.get("OldImage"))


@logger.inject_lambda_context
def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
