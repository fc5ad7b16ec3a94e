"""DynamoDB Streams -> record changes: each change of a record becomes a history entry, a change-feed
entry and events for the publishers (EventBridge; webhooks). A batch is recorded in order; the first
change that fails is reported with every change after it, so the stream delivers them again and a
record's later version is never recorded before an earlier one."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from shared.eventbus import EventBridgePublisher
from shared.logic.events import ChangeNotRecorded, ChangePublisher, handle_stream
from shared.logic.webhooks import WebhookPublisher

logger = Logger(service="events")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def publishers() -> list[ChangePublisher]:
    """Where every recorded change goes, in order."""
    return [EventBridgePublisher(), WebhookPublisher()]


@logger.inject_lambda_context
def handler(event, context):
    records = event["Records"]
    outcome = handle_stream(
        [(r["eventName"], r["dynamodb"].get("NewImage"), r["dynamodb"].get("OldImage")) for r in records],
        publishers(), on_error=lambda position, error: logger.exception("unreadable stream change"),
    )
    logger.info("changes recorded", extra={
        "changes": len(records), "recorded": outcome.recording.recorded, "duplicates": outcome.recording.duplicates,
        "conflicts": outcome.recording.conflicts, "published": outcome.published, "failedFrom": outcome.failed_from,
    })
    failed = set() if outcome.failed_from is None else {
        r["dynamodb"]["SequenceNumber"] for r in records[outcome.failed_from:]
    }

    def record_handler(record: DynamoDBRecord) -> None:
        if record.dynamodb.sequence_number in failed:
            raise ChangeNotRecorded(f"change {record.dynamodb.sequence_number} was not recorded")

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
