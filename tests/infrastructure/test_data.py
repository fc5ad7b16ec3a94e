"""The table is the one TABLE_DEFINITION describes, protected against loss; the idempotency table is
the one IDEMPOTENCY_TABLE_DEFINITION describes."""

from shared.repository.table import IDEMPOTENCY_TABLE_DEFINITION, TABLE_DEFINITION, TTL_ATTRIBUTE

from .helpers import data_table, resources


def _by_name(items, key):
    return sorted(items, key=lambda item: item[key])


def test_table_keys_attributes_and_indexes_are_those_of_table_definition(cfn):
    _, table = data_table(cfn)
    properties = table["Properties"]

    assert properties["KeySchema"] == TABLE_DEFINITION["KeySchema"]
    assert _by_name(properties["AttributeDefinitions"], "AttributeName") == _by_name(
        TABLE_DEFINITION["AttributeDefinitions"], "AttributeName"
    )
    assert _by_name(properties["GlobalSecondaryIndexes"], "IndexName") == _by_name(
        TABLE_DEFINITION["GlobalSecondaryIndexes"], "IndexName"
    )


def test_table_streams_new_and_old_images(cfn):
    _, table = data_table(cfn)

    view_type = table["Properties"]["StreamSpecification"]["StreamViewType"]

    assert view_type == TABLE_DEFINITION["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_table_is_on_demand_with_ttl(cfn):
    _, table = data_table(cfn)
    properties = table["Properties"]

    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_table_survives_mistakes(cfn):
    _, table = data_table(cfn)
    properties = table["Properties"]

    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_the_idempotency_table_is_keyed_as_its_definition_on_demand_with_ttl(cfn):
    (table,) = [t for k, t in resources(cfn, "AWS::DynamoDB::Table").items() if k.startswith("IdempotencyTable")]
    properties = table["Properties"]

    assert properties["KeySchema"] == IDEMPOTENCY_TABLE_DEFINITION["KeySchema"] == [
        {"AttributeName": "id", "KeyType": "HASH"}
    ]
    assert properties["AttributeDefinitions"] == IDEMPOTENCY_TABLE_DEFINITION["AttributeDefinitions"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "StreamSpecification" not in properties
