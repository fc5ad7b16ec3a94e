"""The service's one stack: it composes the constructs and names the outputs, nothing more."""

from aws_cdk import Annotations, CfnOutput, Stack
from constructs import Construct

from infra.api_construct import ApiConstruct
from infra.change_events_construct import ChangeEventsConstruct
from infra.data_construct import DataConstruct
from infra.functions_construct import FunctionsConstruct
from infra.idempotency_construct import IdempotencyConstruct
from infra.monitoring_construct import MonitoringConstruct
from infra.search_indexing_construct import SearchIndexingConstruct
from infra.typesense_config import NODES_CONTEXT_KEY, TypesenseConfig
from infra.webhooks_construct import WebhookQueuesConstruct


class CrmRecordsApiStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, description="CRM records API (API Gateway, Lambda, DynamoDB)", **kwargs)
        typesense = TypesenseConfig.from_context(self.node.try_get_context)
        if typesense.uses_default_nodes:
            Annotations.of(self).add_warning_v2(
                "crm:typesenseNodes",
                f"context {NODES_CONTEXT_KEY} is not set: search and indexing point at a placeholder host",
            )

        data = DataConstruct(self, "Data")
        idempotency = IdempotencyConstruct(self, "Idempotency")
        change_events = ChangeEventsConstruct(self, "ChangeEvents")
        webhooks = WebhookQueuesConstruct(self, "Webhooks")
        functions = FunctionsConstruct(
            self, "Functions", table=data.table, index_arns=data.index_arns, typesense=typesense,
            idempotency_table=idempotency.table, event_bus=change_events.bus, webhook_queue=webhooks.deliveries,
        )
        change_events.consume(table=data.table, consumer=functions.events)
        webhooks.feed(functions.deliveries)
        api = ApiConstruct(
            self, "Api", route_group_functions=functions.route_groups, authorizer_function=functions.authorizer
        )
        indexing = SearchIndexingConstruct(
            self, "SearchIndexing", table=data.table, indexer=functions.indexer, verifier=functions.verifier
        )
        monitoring = MonitoringConstruct(
            self,
            "Monitoring",
            api=api.api,
            functions=functions.all,
            indexer=functions.indexer,
            verifier=functions.verifier,
            indexing_failures=indexing.failures,
            events=functions.events,
            change_event_failures=change_events.failures,
            deliveries=functions.deliveries,
            delivery_queue=webhooks.deliveries,
            delivery_dead_letters=webhooks.dead_letters,
        )

        CfnOutput(self, "ApiUrl", value=api.api.url, description="Base URL of the API (stage included)")
        CfnOutput(self, "TableName", value=data.table.table_name)
        CfnOutput(
            self, "UsagePlanId", value=api.usage_plan.usage_plan_id,
            description="Usage plan that each account's API key joins",
        )
        CfnOutput(self, "IndexingFailureQueueUrl", value=indexing.failures.queue_url)
        CfnOutput(self, "ChangeEventFailureQueueUrl", value=change_events.failures.queue_url)
        CfnOutput(self, "EventBusName", value=change_events.bus.event_bus_name,
                  description="The event bus every record change is put on (source crm.records)")
        CfnOutput(self, "EventBusArn", value=change_events.bus.event_bus_arn)
        CfnOutput(self, "WebhookDeadLetterQueueUrl", value=webhooks.dead_letters.queue_url,
                  description="Webhook delivery messages the worker failed on repeatedly")
        CfnOutput(self, "AlarmTopicArn", value=monitoring.topic.topic_arn, description="Subscribe to get alarms")
        CfnOutput(self, "TypesenseApiKeySecretArn", value=functions.typesense_keys["admin"].secret_arn,
                  description="Secret holding the Typesense admin key (indexer)")
        CfnOutput(self, "TypesenseSearchKeySecretArn", value=functions.typesense_keys["search"].secret_arn,
                  description="Secret holding the Typesense search-only key (search function)")
