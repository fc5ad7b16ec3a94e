"""DynamoDB Streams -> search index. Failed records are reported as partial batch failures, so the
stream retries them (and everything after them in the shard) while the rest of the batch succeeds."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from shared.logic.indexing import apply_change
from shared.search.index import SearchUnavailable, search_index

logger = Logger(service="indexer")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


class _Batch:
    """Once the index is unreachable, the rest of the batch fails at once instead of waiting for a
    timeout per record; the stream delivers it all again."""

    index_unreachable = False


def record_handler(record: DynamoDBRecord) -> None:
    if _Batch.index_unreachable:
        raise SearchUnavailable("the index was unreachable earlier in this batch")
    change = record.raw_event.get("dynamodb", {})
    try:
        apply_change(search_index(), record.raw_event["eventName"], change.get("NewImage"), change.get("OldImage"))
    except SearchUnavailable:
        _Batch.index_unreachable = True
        raise


@logger.inject_lambda_context
def handler(event, context):
    _Batch.index_unreachable = False
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
