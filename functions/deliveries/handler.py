"""The webhook delivery worker, fed by the deliveries SQS queue: one delivery attempt per message.

A receiver's failure is not the worker's: it is recorded and retried through the queue. Only a
failure of the worker itself (storage or queue unreachable) reports the message as failed, so SQS
delivers it again, and after a few tries moves it to the dead-letter queue (an alarm watches it).
"""

import json

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from shared.logic import deliveries

logger = Logger(service="deliveries")
processor = BatchProcessor(event_type=EventType.SQS)


def _deliver(record: SQSRecord) -> None:
    message = json.loads(record.body)
    outcome = deliveries.process_message(message)
    logger.info("delivery attempt", extra={"deliveryId": message.get("deliveryId"), "outcome": outcome})


@logger.inject_lambda_context
def handler(event, context):
    return process_partial_response(event=event, record_handler=_deliver, processor=processor, context=context)
