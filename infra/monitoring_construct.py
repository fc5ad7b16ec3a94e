"""Alarms on what needs a person: API 5xx, throttled functions, indexing and events errors, failed
stream records, a lagging stream (for either consumer), a search index that drifted from the table
(or a verifier that fails), and webhook deliveries the worker fails on, errors of the worker, or
deliveries waiting too long. They notify one SNS topic; subscribe to it after deploying."""

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.functions_construct import METRICS_NAMESPACE
from shared.logic.index_verification import DRIFT_METRIC

PERIOD = Duration.minutes(5)
API_5XX_PER_PERIOD = 5
# Records older than the event source's max record age (1 h) are given up: warn well before.
ITERATOR_AGE_MS = Duration.minutes(5).to_milliseconds()
# The verifier runs hourly; any document it had to repair means the index lost or kept something.
DRIFT_PERIOD = Duration.hours(1)
# Every delivery message is received within 15 minutes of being sent (SQS's longest delay; longer backoffs
# are sent again): one waiting much longer means the worker is not keeping up.
OLDEST_DELIVERY_MESSAGE_SECONDS = Duration.minutes(30).to_seconds()


class MonitoringConstruct(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigw.RestApi,
        functions: Mapping[str, lambda_.Function],
        indexer: lambda_.Function,
        verifier: lambda_.Function,
        indexing_failures: sqs.IQueue,
        events: lambda_.Function,
        change_event_failures: sqs.IQueue,
        deliveries: lambda_.Function,
        delivery_queue: sqs.IQueue,
        delivery_dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "AlarmTopic", display_name="CRM records API alarms", enforce_ssl=True)
        self._action = actions.SnsAction(self.topic)

        self._alarm(
            "Api5xx", api.metric_server_error(period=PERIOD, statistic="Sum"), API_5XX_PER_PERIOD,
            "The API answered 5xx responses",
        )
        for name, function in functions.items():
            self._alarm(
                f"{name.title().replace('-', '')}Throttles",
                function.metric_throttles(period=PERIOD, statistic="Sum"), 1, f"The {name} function was throttled",
            )
        self._alarm(
            "IndexerErrors", indexer.metric_errors(period=PERIOD, statistic="Sum"), 1, "The indexer failed batches"
        )
        self._alarm(
            "IndexingFailures",
            indexing_failures.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"), 1,
            "Stream records were given up on; reindex the items the queue's messages point to",
        )
        self._alarm(
            "StreamIteratorAge", indexer.metric("IteratorAge", period=PERIOD, statistic="Maximum"), ITERATOR_AGE_MS,
            "The indexer lags behind the table's stream",
        )
        self._alarm(
            "EventsErrors", events.metric_errors(period=PERIOD, statistic="Sum"), 1,
            "The events function failed batches: history, change feed or events lag behind",
        )
        self._alarm(
            "ChangeEventFailures",
            change_event_failures.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            1, "Stream records were given up on by the events function: their changes are missing from history, "
            "feed and events",
        )
        self._alarm(
            "EventsIteratorAge", events.metric("IteratorAge", period=PERIOD, statistic="Maximum"), ITERATOR_AGE_MS,
            "The events function lags behind the table's stream",
        )
        self._alarm(
            "IndexDrift",
            cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=DRIFT_METRIC,
                              dimensions_map={"service": "verifier"}, period=DRIFT_PERIOD, statistic="Sum"), 1,
            "The verifier found search documents missing, stale or left behind, and repaired them; find out why",
        )
        self._alarm(
            "VerifierErrors", verifier.metric_errors(period=DRIFT_PERIOD, statistic="Sum"), 1,
            "The index verifier failed; the index is not being checked",
        )

        self._alarm(
            "DeliveriesDeadLetters",
            delivery_dead_letters.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"), 1,
            "The webhook delivery worker failed on messages repeatedly (not the receivers: the worker itself); "
            "see its logs, then move the messages back to the deliveries queue",
        )
        self._alarm(
            "DeliveriesErrors", deliveries.metric_errors(period=PERIOD, statistic="Sum"), 1,
            "The webhook delivery worker failed invocations",
        )
        self._alarm(
            "DeliveriesOldestMessage",
            delivery_queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum"),
            OLDEST_DELIVERY_MESSAGE_SECONDS, "Webhook deliveries wait in the queue: the worker is not keeping up",
        )

    def _alarm(self, name: str, metric: cloudwatch.IMetric, threshold: float, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
