"""Scheduled: checks the search index against the table, account by account, repairs what drifted and
reports how much did as a metric. A run stops before its time is up; the next one resumes there."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from shared.logic.index_verification import DRIFT_METRIC, repair_all
from shared.search.index import index_writer

# Left when a run stops: enough to finish the page in hand (seconds at most) and save the resume point.
RESERVE_MS = 20_000

logger = Logger(service="verifier")
metrics = Metrics()


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event, context):
    result = repair_all(index_writer(), lambda: context.get_remaining_time_in_millis() > RESERVE_MS)
    metrics.add_metric(name=DRIFT_METRIC, unit=MetricUnit.Count, value=result.differences)
    logger.info("index verified", extra={"differences": result.differences, "refused": result.refused,
                                         "finished": result.finished})
    return {"differences": result.differences, "refused": result.refused, "finished": result.finished}
