"""The single DynamoDB table, built from the same definition the tests and the local stack use."""

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from shared.repository.table import TABLE_DEFINITION, TTL_ATTRIBUTE

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_STREAM_VIEW_TYPES = {view.name: view for view in dynamodb.StreamViewType}


class DataConstruct(Construct):
    def __init__(self, scope: Construct, construct_id: str, definition: dict[str, Any] = TABLE_DEFINITION) -> None:
        super().__init__(scope, construct_id)
        types = {a["AttributeName"]: _ATTRIBUTE_TYPES[a["AttributeType"]] for a in definition["AttributeDefinitions"]}

        def attribute(key_schema: list[dict[str, str]], key_type: str) -> dynamodb.Attribute | None:
            name = next((k["AttributeName"] for k in key_schema if k["KeyType"] == key_type), None)
            return dynamodb.Attribute(name=name, type=types[name]) if name else None

        if definition.get("BillingMode") != "PAY_PER_REQUEST":
            raise ValueError("the table is deployed on demand; TABLE_DEFINITION must say PAY_PER_REQUEST")
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=attribute(definition["KeySchema"], "HASH"),
            sort_key=attribute(definition["KeySchema"], "RANGE"),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
            time_to_live_attribute=TTL_ATTRIBUTE,
            stream=_STREAM_VIEW_TYPES[definition["StreamSpecification"]["StreamViewType"]],
        )
        self.index_names: list[str] = []
        for index in definition.get("GlobalSecondaryIndexes", []):
            projection = index["Projection"]
            self.table.add_global_secondary_index(
                index_name=index["IndexName"],
                partition_key=attribute(index["KeySchema"], "HASH"),
                sort_key=attribute(index["KeySchema"], "RANGE"),
                projection_type=dynamodb.ProjectionType[projection["ProjectionType"]],
                non_key_attributes=projection.get("NonKeyAttributes"),
            )
            self.index_names.append(index["IndexName"])

    @property
    def index_arns(self) -> list[str]:
        return [f"{self.table.table_arn}/index/{name}" for name in self.index_names]
