"""Every Lambda function of the service, built by one builder that holds the shared defaults, and
granted only the table partitions, indexes and secrets it uses.

The functions come from the route table: one per route group, plus the authorizer, the two stream
consumers (the search indexer and the events function) and the scheduled index verifier. A new group
in ROUTE_GROUP_HANDLERS gets a function (read-only until GROUP_ACCESS says more) without any change
here.
"""

import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from aws_cdk import Duration, SecretValue
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_dynamodb import ITable
from constructs import Construct

from infra.bundling import lambda_code
from infra.nag import acknowledge
from infra.typesense_config import TypesenseConfig
from shared.repository.keys import PARTITION_PREFIXES
from shared.routes import (
    API_FUNCTION_TIMEOUT_SECONDS,
    AUTHORIZER_HANDLER,
    DELIVERIES_HANDLER,
    DELIVERIES_TIMEOUT_SECONDS,
    EVENTS_HANDLER,
    INDEXER_HANDLER,
    INDEXER_TIMEOUT_SECONDS,
    ROUTE_GROUP_HANDLERS,
    ROUTES,
    VERIFIER_HANDLER,
)

RUNTIME = lambda_.Runtime.PYTHON_3_13
# The functions' architecture. Context `architecture` (`-c architecture=x86_64`) changes it only for `make sam`,
# which runs the functions in local x86_64 containers; a deployment keeps arm64.
ARCHITECTURE_CONTEXT_KEY = "architecture"
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
DEFAULT_ARCHITECTURE = "arm64"
MEMORY_MB = 512
API_TIMEOUT = Duration.seconds(API_FUNCTION_TIMEOUT_SECONDS)
INDEXER_TIMEOUT = Duration.seconds(INDEXER_TIMEOUT_SECONDS)
DELIVERIES_TIMEOUT = Duration.seconds(DELIVERIES_TIMEOUT_SECONDS)
# The index verifier works through accounts page by page and stops a minute before its time is up.
VERIFIER_TIMEOUT = Duration.minutes(5)
# Where the functions' own metrics (Powertools Metrics) go.
METRICS_NAMESPACE = "CrmRecordsApi"
LOG_LEVEL = "INFO"
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

# A condition check changes nothing: it is how a transaction verifies an item it only reads.
TYPESENSE_KEY_VARIABLES = {"admin": "TYPESENSE_API_KEY_SECRET_ARN", "search": "TYPESENSE_SEARCH_KEY_SECRET_ARN"}
READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
# What Powertools' DynamoDB persistence layer does with a key's record.
IDEMPOTENCY_ACTIONS = ("dynamodb:GetItem", *WRITE_ACTIONS)


@dataclass(frozen=True)
class Access:
    """What one function may touch. Partition kinds are the keys of keys.PARTITION_PREFIXES."""

    writes: tuple[str, ...] = ()
    """Partitions it reads and writes."""
    reads: tuple[str, ...] = ()
    """Partitions it only reads."""
    index_queries: bool = False
    typesense: Literal["admin", "search"] | None = None
    """Which Typesense key it gets: the admin key (indexing) or the search-only key (searching)."""
    idempotency: bool = False
    """Whether it keeps Idempotency-Key records (reads and writes the idempotency table)."""
    publishes_events: bool = False
    """Whether it puts events on the service's event bus."""
    webhook_queue: bool = False
    """Whether it sends messages to the webhook deliveries queue."""

    def __post_init__(self) -> None:
        unknown = set(self.writes + self.reads) - set(PARTITION_PREFIXES)
        if unknown:
            raise ValueError(f"unknown partition kinds {sorted(unknown)}; known: {sorted(PARTITION_PREFIXES)}")


# What each route group's function may do. A group missing here gets READ_ONLY.
GROUP_ACCESS: dict[str, Access] = {
    "records": Access(writes=("record", "channel", "unique", "counts"), reads=("account",), index_queries=True),
    # Making a field unique reads the kanban's records and writes their unique-value locks.
    "kanbans": Access(writes=("account", "counts", "record", "unique"), index_queries=True),
    "meta": Access(reads=("account",)),
    "admin": Access(writes=("account", "token"), index_queries=True),
    "search": Access(reads=("record", "account", "counts"), index_queries=True, typesense="search"),
    # History and the change feed; the kanbans (account partition) for a kanbanId filter.
    "changes": Access(reads=("account", "history", "feed")),
    # Webhooks and their deliveries; the account partition holds the kanbans a webhook may be limited to.
    "webhooks": Access(writes=("webhook", "delivery"), reads=("account",), webhook_queue=True),
}
READ_ONLY = Access(reads=("account", "record", "counts"), index_queries=True)
AUTHORIZER_ACCESS = Access(reads=("token", "account"))
# The indexer works from the stream's images: of the table it only needs the repair partitions, where
# it notes the documents the engine refused.
INDEXER_ACCESS = Access(writes=("repair",), typesense="admin")
# The events function works from the stream's images: it writes history and feed entries and the feed's
# counter, and puts events on the bus.
EVENTS_ACCESS = Access(writes=("history", "feed", "feedseq", "delivery"), reads=("webhook",),
                       publishes_events=True, webhook_queue=True)
# The verifier reads accounts and records (records through the account's list index) and keeps the
# refused documents' notes and its resume point.
VERIFIER_ACCESS = Access(writes=("repair",), reads=("account", "record"), index_queries=True, typesense="admin")
# The delivery worker reads a webhook and its delivery, records each attempt and the webhook's failures,
# and queues the next attempt (the event source grants it the consuming of the queue).
DELIVERIES_ACCESS = Access(writes=("webhook", "delivery"), webhook_queue=True)


def is_public(group: str) -> bool:
    """A group whose routes all answer without a token (the documentation): it touches no data."""
    return all(route.public for route in ROUTES if route.group == group)


def access_for(group: str) -> Access:
    """A group's access, plus what every API request needs whatever its route group: reading the
    caller's token, user and account (rights are confirmed on each request), counting the request
    against its account's rate limits and keeping its Idempotency-Key. A public group gets nothing at all."""
    if is_public(group):
        return Access()
    access = GROUP_ACCESS.get(group, READ_ONLY)
    confirm = tuple(kind for kind in ("token", "account") if kind not in access.reads + access.writes)
    return replace(access, writes=(*access.writes, "rate"), reads=(*access.reads, *confirm), idempotency=True)


def architecture_from_context(get: Any) -> lambda_.Architecture:
    """The functions' architecture from context `architecture` (a context getter such as `node.try_get_context`)."""
    name = get(ARCHITECTURE_CONTEXT_KEY) or DEFAULT_ARCHITECTURE
    if name not in ARCHITECTURES:
        raise ValueError(f"context {ARCHITECTURE_CONTEXT_KEY}: {name!r} is not one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def lambda_handler(entry_point: str) -> str:
    """The route table's "package.module:function" as Lambda's "package.module.function"."""
    module, _, function = entry_point.partition(":")
    if not module or not function:
        raise ValueError(f"handler {entry_point!r} is not of the form 'module:function'")
    return f"{module}.{function}"


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


class FunctionsConstruct(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, table: ITable, index_arns: list[str], typesense: TypesenseConfig,
        idempotency_table: ITable, event_bus: events.IEventBus, webhook_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self._table = table
        self._event_bus = event_bus
        self._idempotency_table = idempotency_table
        self._index_arns = index_arns
        self._webhook_queue = webhook_queue
        self._typesense_nodes = typesense.nodes_value
        self._architecture = architecture_from_context(self.node.try_get_context)
        self._code = lambda_code(RUNTIME, self._architecture)

        self.pagination_secret = secretsmanager.Secret(
            self,
            "PaginationSecret",
            description="Key that signs pagination tokens (nextToken) of the CRM records API.",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
        )
        acknowledge(
            self.pagination_secret, "AwsSolutions-SMG4",
            "Changing this key only invalidates pagination tokens in flight, so it is changed by hand when needed.",
        )
        self.typesense_keys = {
            "admin": self._typesense_secret("TypesenseApiKey", typesense.api_key_secret, "admin key"),
            "search": self._typesense_secret("TypesenseSearchKey", typesense.search_key_secret, "search-only key"),
        }

        self.route_groups: dict[str, lambda_.Function] = {
            group: self._build(
                _pascal(group), handler, service=group, access=access_for(group), timeout=API_TIMEOUT,
                **({} if is_public(group) else {
                    "environment": {"PAGINATION_SECRET_ARN": self.pagination_secret.secret_arn},
                    "secrets": (self.pagination_secret,),
                }),
            )
            for group, handler in ROUTE_GROUP_HANDLERS.items()
        }
        self.authorizer = self._build(
            "Authorizer", AUTHORIZER_HANDLER, service="authorizer", access=AUTHORIZER_ACCESS, timeout=API_TIMEOUT
        )
        self.indexer = self._build(
            "Indexer", INDEXER_HANDLER, service="indexer", access=INDEXER_ACCESS, timeout=INDEXER_TIMEOUT
        )
        self.events = self._build(
            "Events", EVENTS_HANDLER, service="events", access=EVENTS_ACCESS, timeout=INDEXER_TIMEOUT
        )
        self.verifier = self._build(
            "Verifier", VERIFIER_HANDLER, service="verifier", access=VERIFIER_ACCESS, timeout=VERIFIER_TIMEOUT,
            environment={"POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE},
        )

        self.deliveries = self._build(
            "Deliveries", DELIVERIES_HANDLER, service="deliveries", access=DELIVERIES_ACCESS,
            timeout=DELIVERIES_TIMEOUT,
        )

    @property
    def all(self) -> dict[str, lambda_.Function]:
        return {**self.route_groups, "authorizer": self.authorizer, "indexer": self.indexer, "events": self.events,
                "verifier": self.verifier, "deliveries": self.deliveries}

    def _build(
        self,
        name: str,
        entry_point: str,
        *,
        service: str,
        access: Access,
        timeout: Duration,
        environment: dict[str, str] | None = None,
        secrets: tuple[secretsmanager.ISecret, ...] = (),
    ) -> lambda_.Function:
        """The one place that says how a function of this service is configured."""
        role = iam.Role(
            self, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of the {service} function",
        )
        log_group = logs.LogGroup(self, f"{name}Logs", retention=LOG_RETENTION)
        log_group.grant_write(role)
        env = {
            "TABLE_NAME": self._table.table_name,
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_LOG_LEVEL": LOG_LEVEL,
            **(environment or {}),
        }
        if access.idempotency:
            env["IDEMPOTENCY_TABLE_NAME"] = self._idempotency_table.table_name
        if access.publishes_events:
            env["EVENT_BUS_NAME"] = self._event_bus.event_bus_name
        if access.webhook_queue:
            env["WEBHOOK_QUEUE_URL"] = self._webhook_queue.queue_url
        if access.typesense:
            key = self.typesense_keys[access.typesense]
            env["TYPESENSE_NODES"] = self._typesense_nodes
            env[TYPESENSE_KEY_VARIABLES[access.typesense]] = key.secret_arn
            secrets = (*secrets, key)
        function = lambda_.Function(
            self,
            f"{name}Function",
            description=f"CRM records API: {service}",
            code=self._code,
            handler=lambda_handler(entry_point),
            runtime=RUNTIME,
            architecture=self._architecture,
            memory_size=MEMORY_MB,
            timeout=timeout,
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel[LOG_LEVEL],
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            environment=env,
        )
        for secret in secrets:
            secret.grant_read(role)
        self._grant_table(role, access)
        if access.webhook_queue:
            self._webhook_queue.grant_send_messages(role)
        if access.idempotency:
            role.add_to_principal_policy(iam.PolicyStatement(
                actions=list(IDEMPOTENCY_ACTIONS), resources=[self._idempotency_table.table_arn],
            ))
        if access.publishes_events:
            self._event_bus.grant_put_events_to(role)
        acknowledge(
            role, "AwsSolutions-IAM5[Resource::*]",
            "Only X-Ray tracing and the stream reader's dynamodb:ListStreams are granted on '*'; neither can narrow.",
        )
        acknowledge(
            function, "AwsSolutions-L1",
            "The runtime is pinned to the newest Python that the bundled dependency wheels are tested on.",
        )
        return function

    def _grant_table(self, role: iam.IRole, access: Access) -> None:
        def leading_keys(kinds: tuple[str, ...]) -> dict[str, dict[str, list[str]]]:
            prefixes = [f"{PARTITION_PREFIXES[kind]}*" for kind in kinds]
            return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": prefixes}}

        table_arn = self._table.table_arn
        # Every partition it may read is in one statement: a BatchGetItem whose keys span partitions
        # (the caller's token, user and account) is allowed only if one statement covers all its keys.
        readable = tuple(dict.fromkeys((*access.writes, *access.reads)))
        if readable:
            role.add_to_principal_policy(iam.PolicyStatement(
                actions=list(READ_ACTIONS), resources=[table_arn], conditions=leading_keys(readable),
            ))
        if access.writes:
            role.add_to_principal_policy(iam.PolicyStatement(
                actions=list(WRITE_ACTIONS), resources=[table_arn], conditions=leading_keys(access.writes),
            ))
        if access.index_queries:
            # Index partition keys are not item partitions, so LeadingKeys cannot scope these.
            role.add_to_principal_policy(iam.PolicyStatement(actions=["dynamodb:Query"], resources=self._index_arns))

    def _typesense_secret(self, construct_id: str, name_or_arn: str | None, what: str) -> secretsmanager.ISecret:
        if name_or_arn is None:
            secret = secretsmanager.Secret(
                self,
                construct_id,
                description=f"Typesense {what} of the CRM records API (set it after deploying).",
                secret_string_value=SecretValue.unsafe_plain_text("set after deploying"),
            )
            acknowledge(
                secret, "AwsSolutions-SMG4",
                "The Typesense cluster issues this key, so it is rotated there and copied here, not by a function.",
            )
            return secret
        if name_or_arn.startswith("arn:"):
            # A complete ARN, with the six-character suffix Secrets Manager appends to the name.
            return secretsmanager.Secret.from_secret_complete_arn(self, construct_id, name_or_arn)
        return secretsmanager.Secret.from_secret_name_v2(self, construct_id, name_or_arn)
