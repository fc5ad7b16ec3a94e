"""The table of Idempotency-Key records (shared.idempotency), keyed as IDEMPOTENCY_TABLE_DEFINITION (the
tests' and the local stack's table) says: one item per key and account, removed by TTL once expired."""

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from shared.repository.table import IDEMPOTENCY_KEY, IDEMPOTENCY_TTL_ATTRIBUTE


class IdempotencyConstruct(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=IDEMPOTENCY_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=IDEMPOTENCY_TTL_ATTRIBUTE,
        )
