"""Alarms on what needs a person: API 5xx, throttled functions, indexing errors, failed stream
records and a lagging stream. They notify one SNS topic; subscribe to it after deploying."""

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

PERIOD = Duration.minutes(5)
API_5XX_PER_PERIOD = 5
# Records older than the event source's max record age (1 h) are given up: warn well before.
ITERATOR_AGE_MS = Duration.minutes(5).to_milliseconds()


class MonitoringConstruct(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigw.RestApi,
        functions: Mapping[str, lambda_.Function],
        indexer: lambda_.Function,
        indexing_failures: sqs.IQueue,
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
